package waf

// Native refutation of rules whose transformations decode: a few CRS rules (934100,
// Node.js injection) run a chain such as urlDecodeUni, jsDecode, removeWhitespace,
// base64Decode, urlDecodeUni, jsDecode, removeWhitespace before their expression, so no
// alphabet or factor argument applies to them. Measured on the benign 2 KB form POST:
// removing 934100 from the transaction saved 3.9 ms of the remaining ~4.5 ms. Here the
// chain is computed exactly, value by value, for the transformations whose result this
// file reproduces byte for byte, and the rule's expression (compiled as Coraza compiles
// it) runs over the results; any value the emulation cannot reproduce keeps the rule.

import (
	"net/url"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// emulate applies the transformations in order; ok=false when one of them is outside
// what is reproduced exactly for this input.
func emulate(trans []string, v string) (string, bool) {
	for _, t := range trans {
		var ok bool
		if v, ok = emulateOne(strings.ToLower(t), v); !ok {
			return "", false
		}
	}
	return v, true
}

// emulateOne applies one transformation, named in lowercase.
func emulateOne(t, v string) (string, bool) {
	switch t {
	case "none":
	case "urldecodeuni":
		// urlDecodeUni is queryUnescape unless a %u escape appears
		if strings.IndexByte(v, '%') < 0 && strings.IndexByte(v, '+') < 0 {
			break // nothing to decode, and no %u
		}
		if strings.Contains(v, "%u") || strings.Contains(v, "%U") {
			return "", false
		}
		v = string(queryUnescape(v))
	case "jsdecode":
		if strings.IndexByte(v, '\\') >= 0 {
			v = jsUnescape(v)
		}
	case "removewhitespace":
		v = removeWhitespace(v)
	case "base64decode":
		v = base64Prefix(v)
	default:
		return "", false
	}
	return v, true
}

// removeWhitespace drops what unicode.IsSpace calls a space, as strings.Map does (which
// also rewrites invalid UTF-8 as U+FFFD); an ASCII value takes a shortcut, since the only
// ASCII spaces are \t \n \v \f \r and ' ' (measured: strings.Map was a third of the
// emulation's time on the benign POST).
func removeWhitespace(v string) string {
	spaces := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 0x80:
			// what strings.Map(drop unicode.IsSpace, v) gives, without a call per rune:
			// each rune kept as it is, an invalid byte written as U+FFFD
			var out strings.Builder
			out.Grow(len(v) + utf8.UTFMax)
			for j := 0; j < len(v); {
				if c := v[j]; c < utf8.RuneSelf {
					if c != ' ' && (c < '\t' || c > '\r') {
						out.WriteByte(c)
					}
					j++
					continue
				}
				r, w := utf8.DecodeRuneInString(v[j:])
				if !unicode.IsSpace(r) {
					out.WriteRune(r)
				}
				j += w
			}
			return out.String()
		case c == ' ' || '\t' <= c && c <= '\r':
			spaces = true
		}
	}
	if !spaces {
		return v
	}
	var out strings.Builder
	out.Grow(len(v))
	start := 0 // the run of kept bytes being read
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == ' ' || '\t' <= c && c <= '\r' {
			out.WriteString(v[start:i])
			start = i + 1
		}
	}
	out.WriteString(v[start:])
	return out.String()
}

// jsUnescape decodes JavaScript escapes as Coraza's jsDecode does: \u{H..H} (one to six
// hex digits) and \uHHHH keep the low byte of the code point (full-width ASCII FF01-FF5E
// shifted down to ASCII), \xHH, up to three octal digits (two when the first is above 3),
// \a \b \f \n \r \t \v, any other escaped byte stands for itself, and a trailing
// backslash stays. TestEmulationMatchesCoraza compares it with Coraza's own.
func jsUnescape(in string) string {
	n := len(in)
	out := make([]byte, 0, n)
	for i := 0; i < n; {
		if in[i] != '\\' {
			out = append(out, in[i])
			i++
			continue
		}
		ext := 0
		if i+2 < n && in[i+1] == 'u' && in[i+2] == '{' {
			for ext < 6 && i+3+ext < n && isHex(in[i+3+ext]) {
				ext++
			}
			if ext == 0 || i+3+ext >= n || in[i+3+ext] != '}' {
				ext = 0
			}
		}
		switch {
		case ext > 0:
			var code rune
			for k := 0; k < ext; k++ {
				h, _ := hexVal(in[i+3+k])
				code = code<<4 | rune(h)
			}
			b := byte(code)
			if code >= 0xff01 && code <= 0xff5e {
				b += 0x20
			}
			out = append(out, b)
			i += ext + 4
		case i+5 < n && in[i+1] == 'u' && isHex(in[i+2]) && isHex(in[i+3]) && isHex(in[i+4]) && isHex(in[i+5]):
			h, _ := hexVal(in[i+4])
			l, _ := hexVal(in[i+5])
			b := h<<4 | l
			if b > 0 && b < 0x5f && (in[i+2] == 'f' || in[i+2] == 'F') && (in[i+3] == 'f' || in[i+3] == 'F') {
				b += 0x20
			}
			out = append(out, b)
			i += 6
		case i+3 < n && in[i+1] == 'x' && isHex(in[i+2]) && isHex(in[i+3]):
			h, _ := hexVal(in[i+2])
			l, _ := hexVal(in[i+3])
			out = append(out, h<<4|l)
			i += 4
		case i+1 < n && in[i+1] >= '0' && in[i+1] <= '7':
			j := 1
			for j < 3 && i+1+j < n && in[i+1+j] >= '0' && in[i+1+j] <= '7' {
				j++
			}
			if j == 3 && in[i+1] > '3' {
				j = 2
			}
			var b byte
			for k := 0; k < j; k++ {
				b = b<<3 | (in[i+1+k] - '0')
			}
			out = append(out, b)
			i += 1 + j
		case i+1 < n:
			c := in[i+1]
			switch c {
			case 'a':
				c = '\a'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'v':
				c = '\v'
			}
			out = append(out, c)
			i += 2
		default:
			out = append(out, in[i:]...)
			i = n
		}
	}
	return string(out)
}

func isHex(c byte) bool { _, ok := hexVal(c); return ok }

// base64Prefix decodes like Coraza's base64Decode: CR and LF are skipped, decoding stops
// at '=', ' ' or the first byte outside the standard alphabet, and a trailing group of two
// or three symbols yields one or two bytes.
func base64Prefix(s string) string {
	var out strings.Builder
	out.Grow(len(s)/4*3 + 2)
	var acc, n int
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			continue
		}
		d := b64Value(c)
		if d < 0 {
			break // '=', ' ' and every other byte end the decoding
		}
		acc = acc<<6 | d
		n++
		if n == 4 {
			out.WriteByte(byte(acc >> 16))
			out.WriteByte(byte(acc >> 8))
			out.WriteByte(byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		acc <<= 12
		out.WriteByte(byte(acc >> 16))
	case 3:
		acc <<= 6
		out.WriteByte(byte(acc >> 16))
		out.WriteByte(byte(acc >> 8))
	}
	return out.String()
}

func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// nativeValues returns a superset of the values Coraza gives a rule reading vars (its
// head), or ok=false when one of them is not reproduced: ARGS and ARGS_NAMES from the
// query and a urlencoded body, cookies split as Coraza splits them, REQUEST_FILENAME,
// and XML (none unless the body may be XML).
func nativeValues(vars string, req *Request) ([]string, bool) {
	var out []string
	var args []string
	argsDone := false
	loadArgs := func() bool {
		if argsDone {
			return true
		}
		argsDone = true
		args = strings.Split(string(formText([]byte(rawQuery(req.URI)))), "\n")
		if len(req.Body) > 0 {
			if !isURLEncoded(req) {
				return false
			}
			args = append(args, strings.Split(string(formText(req.Body)), "\n")...)
		}
		return true
	}
	// names and values alike, a superset of either; each list once, since refutedBy's
	// answer for a value does not change when the value comes again (measured: ARGS and
	// ARGS_NAMES, the cookies and their names, doubled the emulation's time)
	argsOut, cookiesOut := false, false
	for _, v := range strings.Split(vars, "|") {
		v = strings.TrimSpace(v)
		switch strings.ToUpper(v) {
		case "ARGS", "ARGS_NAMES":
			if !loadArgs() {
				return nil, false
			}
			if !argsOut {
				out = append(out, args...)
				argsOut = true
			}
		case "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES":
			if cookiesOut {
				continue
			}
			cookiesOut = true
			for _, h := range req.Headers {
				if strings.EqualFold(h[0], "Cookie") {
					out = append(out, cookieParts(h[1])...)
				}
			}
		case "REQUEST_FILENAME":
			u, _, _ := strings.Cut(req.URI, "#")
			if p, err := url.ParseRequestURI(u); err == nil {
				out = append(out, p.Path)
			}
			raw, _, _ := strings.Cut(u, "?")
			out = append(out, raw)
		case "XML:/*":
			for _, h := range req.Headers {
				if strings.EqualFold(h[0], "Content-Type") && strings.Contains(strings.ToLower(h[1]), "xml") {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return out, true
}

// cookieParts splits a Cookie header as Coraza does (at ';', then at the first '=', each
// part trimmed of spaces and control bytes) and returns names and values.
func cookieParts(h string) []string {
	var out []string
	for _, part := range strings.Split(h, ";") {
		name, val, _ := strings.Cut(trimCTL(part), "=")
		out = append(out, trimCTL(name), trimCTL(val))
	}
	return out
}

func trimCTL(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 || r == 0x7f })
}

// nativeRule is a rule refuted by emulation: its head's variables, transformations and
// expression.
type nativeRule struct {
	id    int
	vars  string
	trans []string
	re    *regexp.Regexp
	// facs: strings one of which every match contains (lowercased, two bytes or more),
	// nil when unknown; a value without any of them is not given to the expression
	facs *factorScan
}

// nativeOf recognises a rule this file can refute: an @rx head on the variables
// nativeValues knows, with t:none first, only transformations emulate knows, base64Decode
// among them (the decoding the alphabet proof gives up on). multiMatch or not, refutedBy
// checks every intermediate result.
func nativeOf(id int, raw string) (nativeRule, bool) {
	_, toks, ok := secHead(raw)
	if !ok || len(toks) < 3 {
		return nativeRule{}, false
	}
	vars, op, actions := toks[0], toks[1], toks[2]
	if !strings.HasPrefix(op, "@rx ") || strings.Contains(op, "%{") {
		return nativeRule{}, false
	}
	n := nativeRule{id: id, vars: vars}
	decodes := false
	for _, a := range splitActions(actions) {
		if t, ok := strings.CutPrefix(a, "t:"); ok {
			// lowercased once here: emulate folds the name per value, and folding a name
			// with capitals allocated (measured: half of emulate's time on the benign GET)
			t = strings.ToLower(strings.TrimSpace(t))
			n.trans = append(n.trans, t)
			switch t {
			case "none", "urldecodeuni", "jsdecode", "removewhitespace":
			case "base64decode":
				decodes = true
			default:
				return nativeRule{}, false
			}
		}
	}
	if !decodes || !strings.EqualFold(n.trans[0], "none") {
		return nativeRule{}, false
	}
	for _, v := range strings.Split(vars, "|") {
		switch strings.ToUpper(strings.TrimSpace(v)) {
		case "ARGS", "ARGS_NAMES", "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES", "REQUEST_FILENAME", "XML:/*":
		default:
			return nativeRule{}, false
		}
	}
	pattern := "(?sm)" + strings.TrimSpace(op[len("@rx "):])
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nativeRule{}, false
	}
	n.re = re
	// Factors of the unspecialised expression: values here may hold any byte. Not with
	// case folding (a non-ASCII rune can fold to an ASCII letter, e.g. U+212A to 'k').
	if syn, err := syntax.Parse(pattern, syntax.Perl); err == nil && !strings.Contains(pattern, "(?i") {
		if f, ok := necessaryD(syn.Simplify(), false, 0, newMemo(256)); ok && !weak(f) {
			n.facs = newFactorScan(f)
		}
	}
	return n, true
}

// refutedBy reports whether no value of req can make r match.
func (r *nativeRule) refutedBy(req *Request) bool {
	vals, ok := nativeValues(r.vars, req)
	if !ok {
		return false
	}
	for _, v := range vals {
		// 934100 is multiMatch: Coraza gives the operator the value and every changed
		// intermediate result; every intermediate result is checked here (a superset).
		// A value the emulation cannot reproduce keeps the rule, whether found before or
		// after a match.
		if r.matches(v) {
			return false
		}
		for _, t := range r.trans {
			next, ok := emulateOne(t, v)
			if !ok {
				return false
			}
			if next != v {
				if r.matches(next) {
					return false
				}
				v = next
			}
		}
	}
	return true
}

// matches runs the expression on t, unless t holds none of its factors.
func (r *nativeRule) matches(t string) bool {
	if r.facs != nil && !containsFactor(r.facs, t) {
		return false // no factor: the expression cannot match t
	}
	return r.re.MatchString(t)
}
