package waf

import (
	"encoding/binary"
	"math/bits"
	"regexp/syntax"
	"strings"
	"unicode"
)

// alphabet is a set of bytes. The fast path reasons about which bytes can appear in the
// value a rule's operator sees; "full" (any byte ≥ 0x80 in it) means "anything", because
// Unicode case folding and UTF-8 decoding make non-ASCII input too rich to reason about.
type alphabet [4]uint64

func (a *alphabet) add(c byte)     { a[c>>6] |= 1 << (c & 63) }
func (a alphabet) has(c byte) bool { return a[c>>6]&(1<<(c&63)) != 0 }
func (a alphabet) union(b alphabet) alphabet {
	return alphabet{a[0] | b[0], a[1] | b[1], a[2] | b[2], a[3] | b[3]}
}
func (a alphabet) empty() bool { return a[0]|a[1]|a[2]|a[3] == 0 }
func (a alphabet) full() bool  { return a[2]|a[3] != 0 } // a non-ASCII byte is present
func (a alphabet) count() int {
	return bits.OnesCount64(a[0]) + bits.OnesCount64(a[1]) + bits.OnesCount64(a[2]) + bits.OnesCount64(a[3])
}

var fullAlphabet = alphabet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

func alphabetOf(s string) alphabet { return alphabetOfBytes(s) }

func alphabetOfBytes[S string | []byte](b S) alphabet {
	if len(b) > 64 {
		var seen byteSeen
		for i := 0; i < len(b); i++ {
			seen[b[i]] = 1
		}
		return seen.alphabet()
	}
	var a alphabet
	for i := 0; i < len(b); i++ {
		a.add(b[i])
	}
	return a
}

// byteSeen collects the bytes of a long text: one independent store per byte, where
// alphabet.add makes each byte wait for the previous one's update of the same word
// (measured: a third of sourceAlphabets on the 2 KB form body).
type byteSeen [256]byte // 1 for a byte seen

// alphabet reads the table eight entries at a time: most of it is zero.
func (s *byteSeen) alphabet() alphabet {
	var a alphabet
	for i := 0; i < len(s); i += 8 {
		if binary.LittleEndian.Uint64(s[i:i+8]) == 0 {
			continue
		}
		for c := i; c < i+8; c++ {
			if s[c] != 0 {
				a.add(byte(c))
			}
		}
	}
	return a
}

// addCase adds the other ASCII case of every letter.
func (a alphabet) addCase() alphabet {
	for c := byte('a'); c <= 'z'; c++ {
		if a.has(c) || a.has(c-32) {
			a.add(c)
			a.add(c - 32)
		}
	}
	return a
}

func (a alphabet) addLower() alphabet {
	for c := byte('A'); c <= 'Z'; c++ {
		if a.has(c) {
			a.add(c + 32)
		}
	}
	return a
}

func (a alphabet) addUpper() alphabet {
	for c := byte('a'); c <= 'z'; c++ {
		if a.has(c) {
			a.add(c - 32)
		}
	}
	return a
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodedAlphabet over-approximates the bytes of any URL decoding of s (with '+' as space or
// not, lenient about malformed escapes): every literal byte, every %XX byte, and everything
// when a %u escape could produce non-ASCII.
func decodedAlphabet[S string | []byte](s S) alphabet {
	var a alphabet
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+2 < len(s) {
				h, ok1 := hexVal(s[i+1])
				l, ok2 := hexVal(s[i+2])
				if ok1 && ok2 {
					a.add(h<<4 | l)
					i += 2
					continue
				}
			}
			if i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
				return fullAlphabet
			}
			a.add('%')
		case '+':
			a.add('+')
			a.add(' ')
		default:
			a.add(c)
		}
	}
	return a
}

// transformAlphabet over-approximates the bytes a transformation can output (and, united
// with its input, every intermediate value multiMatch may test) given input bytes a.
func transformAlphabet(name string, a alphabet) alphabet {
	if a.full() {
		return fullAlphabet
	}
	switch strings.ToLower(name) {
	case "none", "removenulls", "removewhitespace", "trim", "trimleft", "trimright",
		"removecomments", "removecommentschar", "normalizepath", "normalisepath":
		return a
	case "lowercase":
		return a.addLower()
	case "uppercase":
		return a.addUpper()
	case "compresswhitespace", "replacecomments", "replacenulls":
		a.add(' ')
		return a
	case "normalizepathwin", "normalisepathwin":
		a.add('/')
		return a
	case "cmdline":
		a = a.addLower()
		a.add(' ')
		return a
	case "urldecode", "urldecodeuni":
		if a.has('%') {
			return fullAlphabet
		}
		if a.has('+') {
			a.add(' ')
		}
		return a
	case "htmlentitydecode":
		if a.has('&') {
			return fullAlphabet
		}
		return a
	case "jsdecode", "cssdecode", "escapeseqdecode":
		if a.has('\\') {
			return fullAlphabet
		}
		return a
	case "utf8tounicode":
		return a // ASCII input is left alone; non-ASCII already returned full
	case "length":
		return alphabetOf("0123456789")
	case "hexencode":
		return alphabetOf("0123456789abcdef")
	case "urlencode":
		return a.union(alphabetOf("%+0123456789abcdefABCDEF"))
	}
	return fullAlphabet // base64Decode, hexDecode, sqlHexDecode, sha1, md5, unknown ones
}

// regexCanMatch reports whether re can match some string made only of bytes in a (a must
// be ASCII-only). Assertions (^ $ \b) are assumed satisfiable, so the answer errs towards
// "can match": a false result is a proof.
func regexCanMatch(re *syntax.Regexp, a *alphabet) bool {
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if !runeIn(r, re.Flags&syntax.FoldCase != 0, a) {
				return false
			}
		}
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo > 0x7f {
				continue
			}
			if hi > 0x7f {
				hi = 0x7f
			}
			for r := lo; r <= hi; r++ {
				if a.has(byte(r)) {
					return true
				}
			}
		}
		return false
	case syntax.OpAnyCharNotNL:
		b := *a
		b[0] &^= 1 << '\n'
		return !b.empty()
	case syntax.OpAnyChar:
		return !a.empty()
	case syntax.OpCapture, syntax.OpPlus:
		return regexCanMatch(re.Sub[0], a)
	case syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpRepeat:
		return re.Min == 0 || regexCanMatch(re.Sub[0], a)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !regexCanMatch(s, a) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if regexCanMatch(s, a) {
				return true
			}
		}
		return false
	}
	return true
}

func runeIn(r rune, fold bool, a *alphabet) bool {
	if r <= 0x7f && a.has(byte(r)) {
		return true
	}
	if !fold {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f <= 0x7f && a.has(byte(f)) {
			return true
		}
	}
	return false
}

// literalCanOccur reports whether s can occur in a string over a, case-insensitively if ci.
func literalCanOccur(s string, ci bool, a *alphabet) bool {
	for _, r := range s {
		if !runeIn(r, ci, a) {
			return false
		}
	}
	return true
}
