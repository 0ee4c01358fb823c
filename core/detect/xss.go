package detect

import "strings"

// XSS rule ids.
const (
	RuleXSSTag       = 99201 // an element that runs script: <script>, <iframe>, <object>, <svg>...
	RuleXSSHandler   = 99202 // an event handler attribute (onerror=, onload= ...)
	RuleXSSURL       = 99203 // a javascript:, vbscript: or data:text/html URL
	RuleXSSAttrBreak = 99204 // leaves an attribute value and adds an event handler or style
	RuleXSSScript    = 99205 // leaves a script string and calls a sink (alert, eval, document.cookie ...)
	RuleXSSStyle     = 99206 // CSS that runs script (expression(), behavior:, -moz-binding)
	RuleXSSProbe     = 99207 // the value is an event handler attribute name on its own
)

// scriptTags are elements that run script or load active content by themselves.
var scriptTags = map[string]bool{
	"script": true, "iframe": true, "frame": true, "frameset": true, "object": true, "embed": true,
	"applet": true, "base": true, "meta": true, "link": true, "svg": true, "math": true, "style": true,
	"xml": true, "portal": true, "isindex": true, "vmlframe": true, "bgsound": true,
}

// urlAttrs take a URL a browser loads or navigates to.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "data": true, "xlink:href": true,
	"background": true, "dynsrc": true, "lowsrc": true, "poster": true, "codebase": true, "to": true,
	"from": true, "values": true, "by": true, "content": true, "srcdoc": true, "code": true, "archive": true,
	"longdesc": true, "profile": true, "usemap": true, "cite": true, "icon": true, "manifest": true,
	"ping": true, "xmlns": false, "folder": true, "style": false, "value": true, "attributename": false,
	"datasrc": true, "imagesrc": true, "srcset": true,
}

type xssScan struct{}

// check returns the first XSS rule v (one decoded form of a value) triggers.
func (xssScan) check(v, lv string) (int, string) {
	if r, m := scanTags(v); r != 0 {
		return r, m
	}
	if r, m := attrBreak(v); r != 0 {
		return r, m
	}
	if r, m := jsURL(v, true); r != 0 {
		return r, m
	}
	if r, m := scriptBreak(lv); r != 0 {
		return r, m
	}
	if r, m := cssScript(v); r != 0 {
		return r, m
	}
	return 0, ""
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 32
	}
	return c
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// htmlSpace is what separates attributes in a tag (and '/' as browsers accept it).
func htmlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/' || c == 0
}

// scanTags reads v as an HTML tokenizer does and judges every start tag.
func scanTags(v string) (int, string) {
	for i := 0; i < len(v); i++ {
		if v[i] != '<' || i+1 >= len(v) {
			continue
		}
		j := i + 1
		if v[j] == '/' { // end tag: </script> ends a script context
			j++
		}
		if j >= len(v) || !isAlpha(v[j]) {
			continue
		}
		k := j
		for k < len(v) && !htmlSpace(v[k]) && v[k] != '>' && v[k] != '<' {
			k++
		}
		name := strings.ToLower(v[j:k])
		if name == "" {
			continue
		}
		if v[i+1] == '/' {
			if name == "script" || name == "style" || name == "title" || name == "textarea" {
				return RuleXSSTag, "closes a <" + name + "> element"
			}
			continue
		}
		if colon := strings.IndexByte(name, ':'); colon >= 0 {
			name = name[colon+1:] // namespaced: <svg:script>, <x:script>
		}
		if scriptTags[name] {
			return RuleXSSTag, "<" + name + "> element"
		}
		// attributes
		end, r, m := scanAttrs(v, k)
		if r != 0 {
			return r, m
		}
		i = end - 1
	}
	return 0, ""
}

// scanAttrs reads attributes from v[i:] up to '>' (or the end: a value that stops inside a
// tag is finished by the page's own markup) and returns where it stopped.
func scanAttrs(v string, i int) (int, int, string) {
	for i < len(v) && v[i] != '>' {
		for i < len(v) && (htmlSpace(v[i]) || v[i] == '"' || v[i] == '\'') {
			i++
		}
		if i >= len(v) || v[i] == '>' {
			break
		}
		s := i
		for i < len(v) && !htmlSpace(v[i]) && v[i] != '>' && v[i] != '=' {
			i++
		}
		name := strings.ToLower(v[s:i])
		if i == s {
			i++
			continue
		}
		for i < len(v) && isSpace(v[i]) {
			i++
		}
		val := ""
		hasVal := false
		if i < len(v) && v[i] == '=' {
			hasVal = true
			i++
			for i < len(v) && isSpace(v[i]) {
				i++
			}
			if i < len(v) && (v[i] == '"' || v[i] == '\'' || v[i] == '`') {
				q := v[i]
				e := strings.IndexByte(v[i+1:], q)
				if e < 0 {
					val, i = v[i+1:], len(v)
				} else {
					val, i = v[i+1:i+1+e], i+2+e
				}
			} else {
				s := i
				for i < len(v) && !isSpace(v[i]) && v[i] != '>' {
					i++
				}
				val = v[s:i]
			}
		}
		if r, m := judgeAttr(name, val, hasVal); r != 0 {
			return i, r, m
		}
	}
	return i, 0, ""
}

func judgeAttr(name, val string, hasVal bool) (int, string) {
	if isHandlerName(name) && hasVal {
		return RuleXSSHandler, "event handler attribute " + name
	}
	if name == "style" && hasVal {
		if r, m := cssScript(val); r != 0 {
			return r, m
		}
	}
	if hasVal && (urlAttrs[name] || strings.HasSuffix(name, ":href")) {
		if r, m := jsURL(val, false); r != 0 {
			return r, m
		}
	}
	if name == "srcdoc" && hasVal && strings.ContainsAny(val, "<&") {
		return RuleXSSTag, "srcdoc with markup"
	}
	return 0, ""
}

// isHandlerName says whether name is an event handler content attribute: "on" and a word,
// which a browser calls when the event fires. Attribute names are what an element carries,
// so any on* attribute set with a value is treated as a handler.
func isHandlerName(name string) bool {
	if len(name) < 5 || name[0] != 'o' || name[1] != 'n' {
		return false
	}
	for i := 2; i < len(name); i++ {
		if !isAlpha(name[i]) && name[i] != '-' && name[i] != '_' {
			return false
		}
	}
	return true
}

// attrBreak finds a quote (or nothing, for unquoted attributes) followed by an event handler
// or style attribute with a value: the value leaves the attribute it was put in.
func attrBreak(v string) (int, string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '"' && c != '\'' && c != '`' && !htmlSpace(c) {
			continue
		}
		j := i + 1
		for j < len(v) && (htmlSpace(v[j]) || v[j] == '"' || v[j] == '\'') {
			j++
		}
		i = j - 1 // the run of quotes and spaces is read once
		if j+2 >= len(v) || lower(v[j]) != 'o' || lower(v[j+1]) != 'n' {
			continue
		}
		k := j
		for k < len(v) && (isAlpha(v[k]) || v[k] == '-') {
			k++
		}
		name := strings.ToLower(v[j:k])
		for k < len(v) && isSpace(v[k]) {
			k++
		}
		if k < len(v) && v[k] == '=' && isHandlerName(name) && knownEvent(name[2:]) {
			// an attribute needs a value that does something: not "onion = tasty"
			rest := strings.TrimLeft(v[k+1:], " \t\n\r\"'`")
			if jsLike(rest) {
				return RuleXSSAttrBreak, "adds event handler " + name
			}
		}
	}
	return 0, ""
}

// jsLike says whether s starts like a JavaScript statement: an identifier followed by a call,
// member access, template or assignment, or punctuation that starts an expression.
func jsLike(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '(', '[', '`', '{', '\\', '!', '-', '+', '~':
		return true
	}
	i := 0
	for i < len(s) && (isWordChar(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 || i >= len(s) {
		return i > 0 && i < 40 && !strings.ContainsAny(s, " ")
	}
	switch s[i] {
	case '(', '`', '[', '=', ';', '.':
		return true
	}
	return false
}

// jsURL finds a script URL: javascript:, vbscript:, livescript:, data:text/html and friends,
// with the tabs, newlines and control characters browsers ignore inside a scheme. With
// anywhere it looks at every ':' of v (reading the scheme backwards from it), else only at a
// scheme that starts the value.
func jsURL(v string, anywhere bool) (int, string) {
	for from := 0; from < len(v); {
		k := strings.IndexByte(v[from:], ':')
		if k < 0 {
			return 0, ""
		}
		k += from
		from = k + 1
		// the scheme: letters before the ':', skipping what browsers strip
		var b [16]byte
		n, i := 0, k-1
		for ; i >= 0 && n < len(b); i-- {
			c := v[i]
			if c == '\t' || c == '\n' || c == '\r' || c == 0 || !anywhere && c < 0x20 {
				continue
			}
			if !isAlpha(c) {
				break
			}
			b[n] = lower(c)
			n++
		}
		if !anywhere {
			// only leading whitespace and control characters may precede the scheme
			for ; i >= 0; i-- {
				if v[i] > 0x20 {
					break
				}
			}
			if i >= 0 {
				return 0, ""
			}
		}
		for l, r := 0, n-1; l < r; l, r = l+1, r-1 {
			b[l], b[r] = b[r], b[l]
		}
		scheme := string(b[:n])
		j := k + 1
		switch scheme {
		case "javascript", "vbscript", "livescript", "mocha", "jscript":
			if anywhere && !jsLike(strings.TrimLeft(v[j:], " \t\n\r/")) && !strings.HasPrefix(v[j:], "//") {
				continue
			}
			return RuleXSSURL, scheme + ": URL"
		case "data":
			rest := strings.TrimSpace(v[j:])
			if len(rest) > 40 {
				rest = rest[:40]
			}
			rest = lowerASCII(rest)
			if strings.HasPrefix(rest, "text/html") || strings.HasPrefix(rest, "image/svg") || strings.HasPrefix(rest, "application/") || strings.HasPrefix(rest, "text/xml") || strings.HasPrefix(rest, "text/javascript") {
				return RuleXSSURL, "data: URL with active content"
			}
		}
		if !anywhere {
			return 0, ""
		}
	}
	return 0, ""
}

// jsSinks are the calls and properties an injected script uses to prove or exploit itself;
// the value says how it must appear: 1 called or passed as a value, 2 called only after a
// break-out (ordinary words too), 3 as a property (document.cookie: after a '.').
var jsSinks = map[string]uint8{"alert": 1, "prompt": 1, "confirm": 1, "eval": 1, "settimeout": 1,
	"setinterval": 1, "execscript": 1, "fromcharcode": 1, "function": 2, "constructor": 2, "import": 2,
	"fetch": 2, "atob": 2, "print": 2, "open": 2, "globalthis": 2,
	"cookie": 3, "domain": 3, "write": 3, "location": 3, "innerhtml": 3, "outerhtml": 3, "href": 0}

// jsObjects are the objects whose members an injected script reaches for.
var jsObjects = map[string]bool{"document": true, "window": true, "top": true, "self": true, "parent": true, "frames": true, "this": true}

// scriptBreak finds a script context break-out: a quote or '</script>' and then an
// operator or ';' and a sink, e.g. ";alert(1)//, '-prompt`1`-', "+document.cookie+". It
// reads the value's identifiers once.
func scriptBreak(lv string) (int, string) {
	for i := 0; i < len(lv); i++ {
		if !isWordStart(lv[i]) || i > 0 && isWordChar(lv[i-1]) {
			continue
		}
		j := i
		for j < len(lv) && isWordChar(lv[j]) {
			j++
		}
		w := lv[i:j]
		kind, ok := jsSinks[w]
		if !ok {
			// window[...] / top['al'+'ert']: a computed member of a global object
			if jsObjects[w] && j < len(lv) && lv[j] == '[' && breakBefore(lv[:i]) {
				return RuleXSSScript, "computed member of " + w
			}
			i = j - 1
			continue
		}
		after := strings.TrimLeft(lv[j:], " \t")
		before := strings.TrimRight(lv[:i], " \t")
		called := strings.HasPrefix(after, "(") || strings.HasPrefix(after, "`") || strings.HasPrefix(after, ")(") ||
			strings.HasPrefix(after, ".call") || strings.HasPrefix(after, ".apply") || strings.HasPrefix(after, ".bind")
		switch kind {
		case 1:
			if !called && before != "" && strings.ContainsRune("(=,", rune(before[len(before)-1])) && (after == "" || strings.ContainsRune("),;", rune(after[0]))) {
				called = true // passed as a value: [1].find(alert), a=alert,a(1), (alert)(1)
			}
			if called && strings.HasPrefix(after, "(") && strings.IndexByte(after, ')') < 0 {
				called = false // alert(... must close
			}
		case 2:
			called = called && breakBefore(lv[:i])
		case 3:
			// document.cookie, window.location, x.innerHTML= used in an expression: after a
			// break-out, or followed by an operator ("What is document.cookie?" is a question)
			k := strings.LastIndexByte(before, '.')
			obj := ""
			if k == len(before)-1 && k > 0 {
				obj = lastWord(before[:k])
			}
			called = obj != "" && (jsObjects[obj] || w == "innerhtml" || w == "outerhtml") &&
				(after != "" && strings.ContainsRune("+;)=,", rune(after[0])) || breakBefore(before[:k-len(obj)]))
			if called {
				return RuleXSSScript, "uses " + obj + "." + w
			}
		default:
			called = false
		}
		if called {
			return RuleXSSScript, "calls " + w
		}
		i = j - 1
	}
	return 0, ""
}

func lastWord(s string) string {
	i := len(s)
	for i > 0 && isWordChar(s[i-1]) {
		i--
	}
	return s[i:]
}

// breakBefore says whether prefix ends with what leaves a JavaScript string or statement: a
// quote or ';' and optionally an operator.
func breakBefore(prefix string) bool {
	p := strings.TrimRight(prefix, " \t")
	for n := 0; n < 3 && p != ""; n++ {
		c := p[len(p)-1]
		switch c {
		case '\'', '"', '`', ';', '>':
			return true
		case '-', '+', '*', '/', '|', '&', '(', '=', ',', '{', '}':
			p = strings.TrimRight(p[:len(p)-1], " \t")
			continue
		}
		return false
	}
	return false
}

// cssPatterns are CSS that runs script; cssFirst holds their first bytes.
var cssPatterns = []string{"expression(", "behavior:", "behaviour:", "-moz-binding", "javascript:", "vbscript:", "@import"}

// cssScript finds CSS that runs script in old or current browsers, in one pass over v that
// stops only at the first bytes of the patterns.
func cssScript(v string) (int, string) {
	for i := 0; i < len(v); i++ {
		c := lower(v[i])
		if c != 'e' && c != 'b' && c != '-' && c != 'j' && c != 'v' && c != '@' {
			continue
		}
		for _, s := range cssPatterns {
			if s[0] != c || len(v)-i < len(s) || !hasPrefixFold(v[i:], s) {
				continue
			}
			switch s {
			case "javascript:", "vbscript:":
				if indexFold(v[:i], "url(") < 0 { // inside url( ... ) in CSS
					continue
				}
			case "expression(":
				if i > 0 && isWordChar(v[i-1]) {
					continue
				}
			default:
				if indexFold(v[i:], "url") < 0 && !strings.ContainsAny(v[i:], "'\"") {
					continue
				}
			}
			return RuleXSSStyle, "CSS " + strings.TrimRight(s, "(:") + " runs script"
		}
	}
	return 0, ""
}

func hasPrefixFold(s, pat string) bool {
	for k := 0; k < len(pat); k++ {
		if lower(s[k]) != pat[k] {
			return false
		}
	}
	return true
}

// indexFold is strings.Index for a lower-case ASCII pattern, ignoring ASCII case in s,
// without allocating.
func indexFold(s, pat string) int {
	if len(pat) == 0 {
		return 0
	}
	c0 := pat[0]
	for i := 0; i+len(pat) <= len(s); i++ {
		if lower(s[i]) != c0 {
			continue
		}
		k := 1
		for k < len(pat) && lower(s[i+k]) == pat[k] {
			k++
		}
		if k == len(pat) {
			return i
		}
	}
	return -1
}

// knownEvent says whether name (after "on") names a DOM or legacy event, the set a handler
// attribute is called for; used where a bare on* word must be told from prose ("onset").
func knownEvent(name string) bool {
	return domEvents[name]
}

// domEvents are the events of the HTML, DOM, SVG and CSS specifications and of the legacy
// Internet Explorer and Gecko APIs that browsers call attribute handlers for.
var domEvents = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range strings.Fields(`abort activate afterprint afterscriptexecute afterupdate animationcancel
	animationend animationiteration animationstart auxclick beforeactivate beforecopy beforecut beforedeactivate
	beforeeditfocus beforeinput beforematch beforepaste beforeprint beforescriptexecute beforetoggle beforeunload
	beforeupdate begin blur bounce cancel canplay canplaythrough cellchange change click close contextlost
	contextmenu contextrestored controlselect copy cuechange cut dataavailable datasetchanged datasetcomplete
	dblclick deactivate drag dragdrop dragend dragenter dragexit dragleave dragover dragstart drop
	durationchange emptied end ended error errorupdate filterchange finish focus focusin focusout formdata
	fullscreenchange fullscreenerror gotpointercapture hashchange help input invalid keydown keypress keyup
	languagechange layoutcomplete load loadeddata loadedmetadata loadend loadstart losecapture
	lostpointercapture mediacomplete mediaerror message messageerror mousedown mouseenter mouseleave mousemove
	mouseout mouseover mouseup mousewheel move moveend movestart mozfullscreenchange offline online
	outofsync pagehide pagereveal pageshow pageswap paste pause play playing pointercancel pointerdown
	pointerenter pointerleave pointermove pointerout pointerover pointerrawupdate pointerup popstate progress
	propertychange ratechange readystatechange redo rejectionhandled repeat reset resize resizeend
	resizestart resume reverse rowdelete rowenter rowexit rowinserted rowsdelete rowsenter rowsinserted scroll
	scrollend search securitypolicyviolation seek seeked seeking select selectionchange selectstart show
	slotchange stalled start stop storage submit suspend syncrestored timeerror timeupdate toggle
	touchcancel touchend touchmove touchstart trackchange transitioncancel transitionend transitionrun
	transitionstart undo unhandledrejection unload urlflip visibilitychange volumechange waiting
	webkitanimationend webkitanimationiteration webkitanimationstart webkittransitionend wheel zoom
	animationstart-webkit focusout-webkit`) {
		m[e] = true
	}
	return m
}()

// handlerProbe says whether the whole value is an event handler attribute name (optionally
// with '='), the first step of probing which attributes a filter lets through.
func handlerProbe(v string) bool {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(v, "=")
	if len(v) < 5 || len(v) > 40 {
		return false
	}
	lv := strings.ToLower(v)
	if !strings.HasPrefix(lv, "on") {
		return false
	}
	return knownEvent(lv[2:])
}

// RuleXSSEncodedProbe: the value is nothing but an encoded '<' or '>' (entity, percent or
// JavaScript escape): a probe of which encodings reach the page undecoded.
const RuleXSSEncodedProbe = 99208

// encodedAngle says whether v is only encodings of '<' and '>' (at least one escape, no raw
// text): "&#x3c;", "%3C", "\x3c", "&lt;".
func encodedAngle(v string, decoded []string) bool {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 || !strings.ContainsAny(v, "&%\\") {
		return false
	}
	for _, d := range decoded[1:] {
		d = strings.TrimSpace(d)
		if d != "" && strings.Trim(d, "<>") == "" {
			return true
		}
	}
	return false
}
