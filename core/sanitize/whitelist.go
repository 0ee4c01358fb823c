package sanitize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Whitelist is the operator-editable form of a policy, in the shape the XSS-filter
// literature uses (js-xss "whiteList", DOMPurify ALLOWED_TAGS/ATTR). It is plain data so that
// the admin API and the console can load, show and save it as JSON or TOML.
type Whitelist struct {
	// Tags maps each allowed tag to the attributes allowed on it.
	Tags map[string][]string `json:"tags" toml:"tags"`
	// GlobalAttributes are allowed on every listed tag.
	GlobalAttributes []string `json:"global_attributes,omitempty" toml:"global_attributes,omitempty"`
	// URLSchemes are the schemes allowed in URL attributes (href, src, cite).
	URLSchemes []string `json:"url_schemes,omitempty" toml:"url_schemes,omitempty"`
	// RelativeURLs allows URLs without a scheme.
	RelativeURLs bool `json:"relative_urls,omitempty" toml:"relative_urls,omitempty"`
	// Values restricts attribute values: key "attr" (on every tag) or "tag.attr", value a
	// regular expression the whole value must match.
	Values map[string]string `json:"values,omitempty" toml:"values,omitempty"`
	// UnknownTags says what happens to tags outside the list: "strip" (drop the tag, keep
	// its text; the default) or "escape" (show the tag as text).
	UnknownTags string `json:"unknown_tags,omitempty" toml:"unknown_tags,omitempty"`
	// NoFollow adds rel="nofollow" to links.
	NoFollow bool `json:"nofollow,omitempty" toml:"nofollow,omitempty"`
}

// PolicyError says which part of a whitelist is wrong. Field is a dotted path such as
// "tags.script" or "values[\"a.href\"]".
type PolicyError struct {
	Policy string
	Field  string
	Msg    string
}

func (e *PolicyError) Error() string {
	p := e.Policy
	if p == "" {
		p = "(unnamed)"
	}
	return fmt.Sprintf("html policy %q: %s: %s", p, e.Field, e.Msg)
}

// ParseJSON decodes a whitelist strictly (unknown keys are errors) and validates it.
func ParseJSON(name string, b []byte) (Whitelist, error) {
	var w Whitelist
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return w, &PolicyError{Policy: name, Field: fmt.Sprintf("byte %d", se.Offset), Msg: err.Error()}
		}
		return w, &PolicyError{Policy: name, Field: "json", Msg: err.Error()}
	}
	return w, w.Validate(name)
}

// ParseTOML decodes a whitelist strictly (unknown keys are errors) and validates it.
func ParseTOML(name string, b []byte) (Whitelist, error) {
	var w Whitelist
	d := toml.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			e := strict.Errors[0]
			row, _ := e.Position()
			return w, &PolicyError{Policy: name, Field: strings.Join(e.Key(), "."), Msg: fmt.Sprintf("unknown key (line %d)", row)}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return w, &PolicyError{Policy: name, Field: fmt.Sprintf("line %d", row), Msg: de.Error()}
		}
		return w, &PolicyError{Policy: name, Field: "toml", Msg: err.Error()}
	}
	return w, w.Validate(name)
}

// Tags that no attribute filtering makes safe: they run script, load active content, change
// how the rest of the page parses, or submit data elsewhere.
var forbiddenTags = map[string]string{
	"script": "runs script", "style": "carries CSS (no CSS policy here)", "iframe": "embeds active content",
	"frame": "embeds active content", "frameset": "embeds active content", "object": "embeds active content",
	"embed": "embeds active content", "applet": "embeds active content", "param": "configures plugins",
	"base": "rewrites every URL of the page", "meta": "can redirect or change the charset",
	"link": "loads style sheets and imports", "svg": "carries its own script-capable namespace",
	"math": "changes how the rest parses (mutation XSS)", "template": "hides content from the parser",
	"noscript": "parses differently with script on (mutation XSS)", "xmp": "raw-text element (mutation XSS)",
	"plaintext": "swallows the rest of the page", "noembed": "raw-text element (mutation XSS)",
	"noframes": "raw-text element (mutation XSS)", "textarea": "raw-text element (mutation XSS)",
	"title": "raw-text element (mutation XSS)", "form": "submits data elsewhere", "input": "form control",
	"button": "form control with formaction", "select": "form control", "option": "form control",
	"isindex": "legacy form control", "portal": "embeds active content", "slot": "shadow DOM",
	"html": "document structure", "head": "document structure", "body": "document structure",
}

// Attributes that no value rule makes safe here.
var forbiddenAttrs = map[string]string{
	"style": "carries CSS (no CSS policy here)", "srcdoc": "embeds a whole document",
	"formaction": "submits data elsewhere", "srcset": "carries URLs this sanitizer does not check",
	"xmlns": "changes the namespace", "is": "instantiates custom elements",
}

// URL-bearing attributes; only the (tag, attribute) pairs in checkedURL get their URLs checked
// against the scheme list by bluemonday, so any other pairing is refused.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "cite": true, "action": true, "poster": true, "background": true,
	"longdesc": true, "usemap": true, "data": true, "codebase": true, "xlink:href": true,
	"ping": true, "manifest": true, "icon": true, "profile": true, "dynsrc": true, "lowsrc": true,
	"archive": true, "classid": true,
}

var checkedURL = map[string]bool{
	"a.href": true, "area.href": true, "blockquote.cite": true, "del.cite": true, "ins.cite": true,
	"q.cite": true, "img.src": true, "audio.src": true, "video.src": true, "source.src": true, "track.src": true,
}

var forbiddenSchemes = map[string]bool{"javascript": true, "vbscript": true, "data": true, "livescript": true, "blob": true, "filesystem": true}

var (
	nameRe   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	schemeRe = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
)

// Validate checks the whitelist and returns the first problem, naming the tag, attribute or
// key. name is the policy's name, used in the message.
func (w *Whitelist) Validate(name string) error {
	fail := func(field, format string, args ...any) error {
		return &PolicyError{Policy: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(w.Tags) == 0 {
		return fail("tags", "lists no tag; a policy that allows nothing is the strict policy, list at least one tag")
	}
	checkAttr := func(field, tag, a string) error {
		if !nameRe.MatchString(a) {
			return fail(field, "attribute %q is not a lower-case attribute name", a)
		}
		if strings.HasPrefix(a, "on") {
			return fail(field, "attribute %q is an event handler and runs script", a)
		}
		if why, bad := forbiddenAttrs[a]; bad {
			return fail(field, "attribute %q is not allowed: it %s", a, why)
		}
		if urlAttrs[a] {
			if tag == "" {
				return fail(field, "URL attribute %q cannot be global; allow it on the tags that use it", a)
			}
			if !checkedURL[tag+"."+a] {
				return fail(field, "URL attribute %q on <%s> is not checked against the URL schemes; remove it", a, tag)
			}
		}
		return nil
	}
	tags := sortedKeys(w.Tags)
	for _, tag := range tags {
		field := "tags." + tag
		if !nameRe.MatchString(tag) {
			return fail(field, "%q is not a lower-case tag name", tag)
		}
		if why, bad := forbiddenTags[tag]; bad {
			return fail(field, "tag <%s> cannot be made safe by attribute rules: it %s", tag, why)
		}
		for _, a := range w.Tags[tag] {
			if err := checkAttr(field, tag, a); err != nil {
				return err
			}
		}
	}
	for _, a := range w.GlobalAttributes {
		if err := checkAttr("global_attributes", "", a); err != nil {
			return err
		}
	}
	for i, s := range w.URLSchemes {
		field := fmt.Sprintf("url_schemes[%d]", i)
		if !schemeRe.MatchString(s) {
			return fail(field, "%q is not a lower-case URL scheme (write \"https\", not \"https:\")", s)
		}
		if forbiddenSchemes[s] {
			return fail(field, "scheme %q can carry script or hide content", s)
		}
	}
	for _, k := range sortedKeys(w.Values) {
		field := fmt.Sprintf("values[%q]", k)
		tag, attr, scoped := strings.Cut(k, ".")
		if !scoped {
			tag, attr = "", k
		}
		if !w.allows(tag, attr) {
			if tag == "" {
				return fail(field, "attribute %q is not allowed on any tag; list it under tags first", attr)
			}
			return fail(field, "attribute %q is not allowed on <%s>; list it under tags.%s first", attr, tag, tag)
		}
		if _, err := regexp.Compile(anchor(w.Values[k])); err != nil {
			return fail(field, "invalid regular expression: %v", err)
		}
	}
	switch w.UnknownTags {
	case "", "strip", "escape":
	default:
		return fail("unknown_tags", "must be \"strip\" or \"escape\", got %q", w.UnknownTags)
	}
	return nil
}

// allows reports whether attr is listed on tag (or on any tag when tag is empty).
func (w *Whitelist) allows(tag, attr string) bool {
	for _, g := range w.GlobalAttributes {
		if g == attr {
			return tag == "" || hasKey(w.Tags, tag)
		}
	}
	for t, attrs := range w.Tags {
		if tag != "" && t != tag {
			continue
		}
		for _, a := range attrs {
			if a == attr {
				return true
			}
		}
	}
	return false
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

func anchor(re string) string { return `^(?:` + re + `)$` }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
