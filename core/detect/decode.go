package detect

import (
	"html"
	"strings"
	"unicode/utf8"
)

// maxValue is the window a value is analysed in: longer values are read in windows that
// overlap by windowOverlap bytes (an injection longer than that across a window border is
// the price), so the work on a pathological parameter is linear in its length.
const (
	maxValue      = 8 << 10
	windowOverlap = 1 << 10
)

// maxRounds is how many times a value is percent-decoded: once by the application's
// framework (already done when a value reaches us), then double and triple encoding.
const maxRounds = 3

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// hex4 reads the four hex digits at s[i:i+4] (the XXXX of %uXXXX and \uXXXX) as a code point.
func hex4(s string, i int) (rune, bool) {
	if !validHex4(s, i) {
		return 0, false
	}
	return rune(unhex(s[i]))<<12 | rune(unhex(s[i+1]))<<8 | rune(unhex(s[i+2]))<<4 | rune(unhex(s[i+3])), true
}

func validHex4(s string, i int) bool {
	return i+3 < len(s) && isHex(s[i]) && isHex(s[i+1]) && isHex(s[i+2]) && isHex(s[i+3])
}

// hexDigitAt reads one hex digit at s[i], either literal or itself percent-encoded
// ("%32" for '2'), the nesting that lenient decoders resolve in one pass.
func hexDigitAt(s string, i int) (byte, int, bool) {
	if i < len(s) && isHex(s[i]) {
		return unhex(s[i]), 1, true
	}
	if i+2 < len(s) && s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2]) {
		if c := unhex(s[i+1])<<4 | unhex(s[i+2]); isHex(c) {
			return unhex(c), 3, true
		}
	}
	return 0, 0, false
}

// lookalike maps code points that lenient servers and Unicode normalisation turn into the
// ASCII characters attacks need: fullwidth forms (NFKC), and the "best fit" characters that
// Windows code-page conversion maps to '/', '\' and '.'.
func lookalike(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return r - 0xFF01 + '!'
	}
	switch r {
	case 0x2215, 0x2044, 0x29F8, 0xEFC8, 0xF8F7:
		return '/'
	case 0x2216, 0x29F9, 0xFE68, 0xF025:
		return '\\'
	case 0x2024, 0xFE52, 0x3002:
		return '.'
	case 0x02BC, 0x2018, 0x2019, 0x2032:
		return '\''
	case 0x201C, 0x201D, 0x2033:
		return '"'
	case 0x2039, 0x2329, 0x27E8, 0xFE64:
		return '<'
	case 0x203A, 0x232A, 0x27E9, 0xFE65:
		return '>'
	}
	return r
}

// urlDecode is one lenient percent-decoding round: %XX, nested %%32%65-style digits, %uXXXX,
// '+' as space; malformed escapes stay as they are. It reports whether anything changed.
func urlDecode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' {
			b.WriteByte(' ')
			changed = true
			continue
		}
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			if r, ok := hex4(s, i+2); ok {
				b.WriteRune(lookalike(r))
				i += 5
				changed = true
				continue
			}
		}
		if hi, n1, ok := hexDigitAt(s, i+1); ok {
			if lo, n2, ok := hexDigitAt(s, i+1+n1); ok {
				b.WriteByte(hi<<4 | lo)
				i += n1 + n2
				changed = true
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String(), changed
}

// overlong rewrites overlong UTF-8 encodings of ASCII (C0 AE, E0 80 AE, F0 80 80 AE, up to the
// obsolete 6-byte forms) to the ASCII byte, masking continuation bytes the way lenient
// decoders did (IIS read C0 2F as '/'), and maps look-alike code points to ASCII.
func overlong(s string) (string, bool) {
	has := false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xC0 {
			has = true
			break
		}
	}
	if !has {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); {
		c := s[i]
		n := 0
		switch {
		case c == 0xC0 || c == 0xC1:
			n = 1
		case c == 0xE0 && i+1 < len(s) && s[i+1] < 0xA0:
			n = 2
		case c == 0xF0 && i+1 < len(s) && s[i+1] < 0x90:
			n = 3
		case c >= 0xF8 && c < 0xFC:
			n = 4
		case c == 0xFC || c == 0xFD:
			n = 5
		}
		if n > 0 && i+n < len(s) {
			cp := rune(c) & (0x3F >> n)
			for k := 1; k <= n; k++ {
				cp = cp<<6 | rune(s[i+k]&0x3F)
			}
			if cp < 0x80 {
				b.WriteByte(byte(cp))
				i += n + 1
				changed = true
				continue
			}
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError {
				if l := lookalike(r); l != r {
					b.WriteRune(l)
					i += size
					changed = true
					continue
				}
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), changed
}

// jsUnescape resolves the JavaScript and CSS escapes an attacker uses inside script and
// style contexts: \xHH, \uHHHH, \u{H...}, and CSS \HH... (1-6 hex digits, one optional space).
func jsUnescape(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch d := s[i+1]; {
		case (d == 'x' || d == 'X') && i+3 < len(s) && isHex(s[i+2]) && isHex(s[i+3]):
			b.WriteRune(lookalike(rune(unhex(s[i+2])<<4 | unhex(s[i+3]))))
			i += 3
			changed = true
		case d == 'u' && i+2 < len(s) && s[i+2] == '{':
			j, r := i+3, rune(0)
			for j < len(s) && j < i+10 && isHex(s[j]) {
				r = r<<4 | rune(unhex(s[j]))
				j++
			}
			if j < len(s) && s[j] == '}' && j > i+3 {
				b.WriteRune(lookalike(r))
				i = j
				changed = true
			} else {
				b.WriteByte(c)
			}
		case d == 'u' && validHex4(s, i+2):
			r, _ := hex4(s, i+2)
			b.WriteRune(lookalike(r))
			i += 5
			changed = true
		case isHex(d):
			j, r := i+1, rune(0)
			for j < len(s) && j < i+7 && isHex(s[j]) {
				r = r<<4 | rune(unhex(s[j]))
				j++
			}
			if r == 0 || r > utf8.MaxRune {
				b.WriteByte(c)
				continue
			}
			b.WriteRune(lookalike(r))
			if j < len(s) && s[j] == ' ' {
				j++
			}
			i = j - 1
			changed = true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), changed
}

// entityDecode resolves HTML character references as a browser does in text and attribute
// values (named, decimal and hex, with or without the semicolon, any number of leading zeros).
func entityDecode(s string) (string, bool) {
	if strings.IndexByte(s, '&') < 0 {
		return s, false
	}
	// html.UnescapeString stops at 8 digits; a browser reads any number of leading zeros.
	if strings.Contains(s, "&#") {
		s = trimEntityZeros(s)
	}
	d := html.UnescapeString(s)
	return d, d != s
}

func trimEntityZeros(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] != '&' || i+2 >= len(s) || s[i+1] != '#' {
			continue
		}
		b.WriteByte('#')
		j := i + 2
		if s[j] == 'x' || s[j] == 'X' {
			b.WriteByte(s[j])
			j++
		}
		k := j
		for k < len(s) && s[k] == '0' {
			k++
		}
		if k > j && (k >= len(s) || !isHex(s[k])) {
			k-- // keep one zero: "&#0;" stays a reference
		}
		i = k - 1
	}
	return b.String()
}

// variants returns the forms of v an application may end up using: v itself, up to
// maxRounds further percent-decodings, and for each the HTML-entity and JavaScript-escape
// decodings. At most 2+3*(maxRounds+1) strings, each at most a small factor of len(v).
func variants(v string, buf []string) []string {
	if len(v) > maxValue {
		v = v[:maxValue]
	}
	out := append(buf[:0], v)
	cur := v
	for r := 0; r < maxRounds; r++ {
		next, ok := urlDecode(cur)
		if o, ok2 := overlong(next); ok2 {
			next, ok = o, true
		}
		if !ok {
			break
		}
		out = append(out, next)
		cur = next
	}
	if o, ok := overlong(v); ok && len(out) == 1 {
		out = append(out, o)
	}
	n := len(out)
	for i := 0; i < n; i++ {
		e, ok := entityDecode(out[i])
		if ok {
			out = append(out, e)
			if d, ok := urlDecode(e); ok {
				out = append(out, d)
			}
		}
		if j, ok := jsUnescape(e); ok {
			out = append(out, j)
		}
	}
	return out
}
