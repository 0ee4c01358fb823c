package sanitize

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
)

// DefaultName is the name of the built-in policy used when an app names none.
const DefaultName = "default"

//go:embed default_policy.json
var defaultPolicyJSON []byte

// DefaultWhitelist returns a copy of the built-in whitelist: text formatting, lists, tables,
// links and images over http(s)/mailto, nothing that can carry script. It is a strict subset of
// what bluemonday's UGC policy allows.
func DefaultWhitelist() Whitelist {
	w, err := ParseJSON(DefaultName, defaultPolicyJSON)
	if err != nil {
		panic("sanitize: built-in default policy is invalid: " + err.Error())
	}
	return w
}

// Policy is a compiled whitelist, safe for concurrent use.
type Policy struct {
	name   string
	w      Whitelist
	bm     *bluemonday.Policy
	escape bool
	allow  map[string]bool // tags kept by the escape pre-pass
}

// Compile validates w and builds its bluemonday policy.
func Compile(name string, w Whitelist) (*Policy, error) {
	if err := w.Validate(name); err != nil {
		return nil, err
	}
	p := bluemonday.NewPolicy()
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(w.RelativeURLs)
	if len(w.URLSchemes) > 0 {
		p.AllowURLSchemes(w.URLSchemes...)
	}
	if w.NoFollow {
		p.RequireNoFollowOnLinks(true)
	}
	re := func(tag, attr string) *regexp.Regexp {
		src, ok := w.Values[tag+"."+attr]
		if !ok {
			src, ok = w.Values[attr]
		}
		if !ok {
			return nil
		}
		return regexp.MustCompile(anchor(src)) // validated above
	}
	allow := make(map[string]bool, len(w.Tags))
	for _, tag := range sortedKeys(w.Tags) {
		allow[tag] = true
		attrs := append(append([]string(nil), w.Tags[tag]...), w.GlobalAttributes...)
		if len(attrs) == 0 {
			p.AllowElements(tag)
			continue
		}
		// An element with attributes must still be kept when it has none of them.
		p.AllowNoAttrs().OnElements(tag)
		for _, a := range attrs {
			b := p.AllowAttrs(a)
			if r := re(tag, a); r != nil {
				b = b.Matching(r)
			}
			b.OnElements(tag)
		}
	}
	return &Policy{name: name, w: w, bm: p, escape: w.UnknownTags == "escape", allow: allow}, nil
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Whitelist returns the whitelist the policy was built from.
func (p *Policy) Whitelist() Whitelist { return p.w }

// Sanitize returns s with everything outside the whitelist removed (or escaped).
func (p *Policy) Sanitize(s string) string {
	if p.escape {
		s = escapeUnknown(s, p.allow)
	}
	return p.bm.Sanitize(s)
}

// SanitizeBytes is Sanitize on bytes.
func (p *Policy) SanitizeBytes(b []byte) []byte {
	if p.escape {
		return p.bm.SanitizeBytes([]byte(escapeUnknown(string(b), p.allow)))
	}
	return p.bm.SanitizeBytes(b)
}

// SanitizeReaderToWriter streams r through the policy into w.
func (p *Policy) SanitizeReaderToWriter(r io.Reader, w io.Writer) error {
	if p.escape {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("sanitize: read: %w", err)
		}
		_, err = io.WriteString(w, p.Sanitize(string(b)))
		return err
	}
	return p.bm.SanitizeReaderToWriter(r, w)
}

// escapeUnknown turns every tag outside allow into visible text, and re-serialises the rest,
// so bluemonday then only ever sees allowed tags and text.
func escapeUnknown(s string, allow map[string]bool) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return b.String()
		case xhtml.TextToken:
			b.WriteString(html.EscapeString(string(z.Text())))
		case xhtml.StartTagToken, xhtml.EndTagToken, xhtml.SelfClosingTagToken:
			raw := string(z.Raw())
			t := z.Token()
			if allow[t.Data] {
				b.WriteString(t.String())
			} else {
				b.WriteString(html.EscapeString(raw))
			}
		case xhtml.CommentToken, xhtml.DoctypeToken:
			b.WriteString(html.EscapeString(string(z.Raw())))
		}
	}
}

// Set holds the named policies. Reads are lock-free (copy on write) because sanitizeHTML runs
// on the request path; replacing a policy is rare.
type Set struct {
	mu       sync.Mutex // serialises writers
	policies atomic.Pointer[map[string]*Policy]
}

// NewSet returns a set holding only the default policy.
func NewSet() *Set {
	def, err := Compile(DefaultName, DefaultWhitelist())
	if err != nil {
		panic("sanitize: built-in default policy does not compile: " + err.Error())
	}
	s := &Set{}
	m := map[string]*Policy{DefaultName: def}
	s.policies.Store(&m)
	return s
}

// Put validates, compiles and stores w under name, replacing any policy of that name
// (the default included). On error nothing changes.
func (s *Set) Put(name string, w Whitelist) error {
	if !nameRe.MatchString(name) {
		return &PolicyError{Policy: name, Field: "name", Msg: "policy names are lower-case letters, digits and '-'"}
	}
	p, err := Compile(name, w)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.policies.Load()
	m := make(map[string]*Policy, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = p
	s.policies.Store(&m)
	return nil
}

// Delete removes a named policy; the default policy can be replaced but not removed.
func (s *Set) Delete(name string) error {
	if name == DefaultName {
		return &PolicyError{Policy: name, Field: "name", Msg: "the default policy cannot be removed (replace it instead)"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.policies.Load()
	if _, ok := old[name]; !ok {
		return &PolicyError{Policy: name, Field: "name", Msg: "no such policy"}
	}
	m := make(map[string]*Policy, len(old))
	for k, v := range old {
		if k != name {
			m[k] = v
		}
	}
	s.policies.Store(&m)
	return nil
}

// Get returns the named policy ("" means the default).
func (s *Set) Get(name string) (*Policy, bool) {
	if name == "" {
		name = DefaultName
	}
	p, ok := (*s.policies.Load())[name]
	return p, ok
}

// Names lists the policies, sorted.
func (s *Set) Names() []string {
	m := *s.policies.Load()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Sanitize cleans html with the named policy ("" means the default). An unknown policy is an
// error rather than a silent fallback, so a typo in a manifest is seen.
func (s *Set) Sanitize(html, policy string) (string, error) {
	p, ok := s.Get(policy)
	if !ok {
		return "", fmt.Errorf("sanitize: no html policy named %q (have %s)", policy, strings.Join(s.Names(), ", "))
	}
	return p.Sanitize(html), nil
}

// PutJSON parses doc as a JSON whitelist (strictly) and stores it under name: the admin
// API's "policies/html" document. On error nothing changes and the error names the field.
func (s *Set) PutJSON(name string, doc []byte) error {
	w, err := ParseJSON(name, doc)
	if err != nil {
		return err
	}
	return s.Put(name, w)
}

// GetJSON returns the named policy's whitelist as JSON.
func (s *Set) GetJSON(name string) ([]byte, error) {
	p, ok := s.Get(name)
	if !ok {
		return nil, fmt.Errorf("sanitize: no html policy named %q", name)
	}
	return json.MarshalIndent(p.Whitelist(), "", "  ")
}
