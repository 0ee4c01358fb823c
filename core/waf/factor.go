package waf

// Literal factors: the second proof of the fast path. For a regular expression we compute a
// set of strings at least one of which every match must contain (a "necessary factor"
// set). When a rule's transformations provably leave the request's text unchanged (up to
// ASCII case) — no '%' for urlDecode, no '&' for htmlEntityDecode, no '\' for jsDecode,
// and so on, decided on the alphabet — the value the operator sees is a substring of the
// request text, so if no factor occurs in the text of the sources the rule reads, the rule
// cannot match. All factors are found with one case-insensitive Aho-Corasick pass per source.

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// maxFactors bounds one rule's factor set; beyond it the rule has no usable set.
const maxFactors = 1500

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// identityOn reports whether transformation name leaves every string over alphabet a
// unchanged up to ASCII case.
func identityOn(name string, a alphabet) bool {
	if a.full() {
		return false
	}
	ws := a.has(' ') || a.has('\t') || a.has('\n') || a.has('\r') || a.has('\v') || a.has('\f')
	switch strings.ToLower(name) {
	case "none", "lowercase", "uppercase", "utf8tounicode", "trim", "trimleft", "trimright":
		return true
	case "urldecode", "urldecodeuni":
		return !a.has('%') && !a.has('+')
	case "htmlentitydecode":
		return !a.has('&')
	case "jsdecode", "cssdecode", "escapeseqdecode":
		return !a.has('\\')
	case "removenulls", "replacenulls":
		return !a.has(0)
	case "removewhitespace", "compresswhitespace":
		return !ws
	case "cmdline":
		return !ws && !a.has('\\') && !a.has('"') && !a.has('\'') && !a.has('^') && !a.has(',') && !a.has(';') && !a.has('/') && !a.has('(')
	case "normalizepath", "normalisepath", "normalizepathwin", "normalisepathwin":
		return !a.has('/') && !a.has('\\')
	case "replacecomments", "removecomments", "removecommentschar":
		return !a.has('/') && !a.has('*') && !a.has('-') && !a.has('#')
	}
	return false
}

// queryUnescape decodes like Coraza's argument parser ('+' is a space, malformed escapes
// stay as they are).
func queryUnescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			out = append(out, ' ')
		case c == '%' && i+2 < len(s):
			h, ok1 := hexVal(s[i+1])
			l, ok2 := hexVal(s[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
			} else {
				out = append(out, c)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// pathUnescape decodes %XX only (paths keep '+').
func pathUnescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			h, ok1 := hexVal(s[i+1])
			l, ok2 := hexVal(s[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// formText is the decoded names and values of a urlencoded string, one per line.
func formText(q []byte) []byte {
	var out []byte
	for len(q) > 0 {
		i := 0
		for i < len(q) && q[i] != '&' {
			i++
		}
		seg := q[:i]
		if j := strings.IndexByte(string(seg), '='); j >= 0 {
			out = append(out, queryUnescape(seg[:j])...)
			out = append(out, '\n')
			out = append(out, queryUnescape(seg[j+1:])...)
		} else {
			out = append(out, queryUnescape(seg)...)
		}
		out = append(out, '\n')
		if i == len(q) {
			break
		}
		q = q[i+1:]
	}
	return out
}

// specialize rewrites re for input over alphabet a (ASCII): parts that need a byte outside
// a become impossible, and what remains is simplified. nil means re cannot match at all.
func specialize(re *syntax.Regexp, a *alphabet) *syntax.Regexp {
	switch re.Op {
	case syntax.OpNoMatch:
		return nil
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if !runeIn(r, re.Flags&syntax.FoldCase != 0, a) {
				return nil
			}
		}
		return re
	case syntax.OpCharClass:
		var rs []rune
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
					rs = append(rs, r, r)
				}
			}
		}
		if len(rs) == 0 {
			return nil
		}
		return &syntax.Regexp{Op: syntax.OpCharClass, Rune: rs}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		if a.empty() {
			return nil
		}
		return re
	case syntax.OpCapture:
		return specialize(re.Sub[0], a)
	case syntax.OpStar, syntax.OpQuest:
		s := specialize(re.Sub[0], a)
		if s == nil {
			return &syntax.Regexp{Op: syntax.OpEmptyMatch}
		}
		return &syntax.Regexp{Op: re.Op, Sub: []*syntax.Regexp{s}, Flags: re.Flags}
	case syntax.OpPlus:
		s := specialize(re.Sub[0], a)
		if s == nil {
			return nil
		}
		return &syntax.Regexp{Op: re.Op, Sub: []*syntax.Regexp{s}, Flags: re.Flags}
	case syntax.OpRepeat:
		s := specialize(re.Sub[0], a)
		if s == nil {
			if re.Min == 0 {
				return &syntax.Regexp{Op: syntax.OpEmptyMatch}
			}
			return nil
		}
		return &syntax.Regexp{Op: re.Op, Sub: []*syntax.Regexp{s}, Min: re.Min, Max: re.Max, Flags: re.Flags}
	case syntax.OpConcat:
		out := &syntax.Regexp{Op: syntax.OpConcat}
		for _, sub := range re.Sub {
			s := specialize(sub, a)
			if s == nil {
				return nil
			}
			if s.Op == syntax.OpEmptyMatch {
				continue
			}
			out.Sub = append(out.Sub, s)
		}
		if len(out.Sub) == 0 {
			return &syntax.Regexp{Op: syntax.OpEmptyMatch}
		}
		return out
	case syntax.OpAlternate:
		out := &syntax.Regexp{Op: syntax.OpAlternate}
		for _, sub := range re.Sub {
			if s := specialize(sub, a); s != nil {
				out.Sub = append(out.Sub, s)
			}
		}
		switch len(out.Sub) {
		case 0:
			return nil
		case 1:
			return out.Sub[0]
		}
		return out
	}
	// assertions and anything else: kept, treated as possible
	return re
}

// language returns the exact set of strings re matches (lowercased) when it is small and
// finite, for building longer factors across a concatenation.
func language(re *syntax.Regexp, limit int) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		var b strings.Builder
		for _, r := range re.Rune {
			if r > 0x7f {
				return nil, false
			}
			b.WriteRune(unicode.ToLower(r))
		}
		return []string{b.String()}, true
	case syntax.OpCharClass:
		var out []string
		seen := map[byte]bool{}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo > 0x7f {
				continue
			}
			if hi > 0x7f {
				hi = 0x7f
			}
			if int(hi-lo) >= limit {
				return nil, false
			}
			for r := lo; r <= hi; r++ {
				c := byte(unicode.ToLower(r))
				if !seen[c] {
					seen[c] = true
					out = append(out, string(c))
				}
			}
		}
		return out, len(out) > 0 && len(out) <= limit
	case syntax.OpCapture:
		return language(re.Sub[0], limit)
	case syntax.OpQuest:
		l, ok := language(re.Sub[0], limit)
		if !ok || len(l)+1 > limit {
			return nil, false
		}
		return append(l, ""), true
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			l, ok := language(s, limit)
			if !ok {
				return nil, false
			}
			out = append(out, l...)
			if len(out) > limit {
				return nil, false
			}
		}
		return dedupe(out), true
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			l, ok := language(s, limit)
			if !ok || len(out)*len(l) > limit {
				return nil, false
			}
			out = product(out, l)
		}
		return out, true
	}
	return nil, false
}

func product(a, b []string) []string {
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return dedupe(out)
}

// necessary returns a set of strings one of which every match of re contains (lowercased),
// choosing long, few strings; ok=false when none is known.
func necessary(re *syntax.Regexp) ([]string, bool) {
	if l, ok := language(re, 64); ok {
		if slicesContainsEmpty(l) {
			return nil, false
		}
		return l, true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return necessary(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min == 0 {
			return nil, false
		}
		return necessary(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			f, ok := necessary(s)
			if !ok {
				return nil, false
			}
			out = append(out, f...)
			if len(out) > maxFactors {
				return nil, false
			}
		}
		return dedupe(out), true
	case syntax.OpConcat:
		var best []string
		bestScore := -1 << 30
		consider := func(f []string) {
			if len(f) == 0 || slicesContainsEmpty(f) {
				return
			}
			min := len(f[0])
			for _, s := range f {
				min = minInt(min, len(s))
			}
			score := minInt(min, 4)*10000 - len(f)
			if score > bestScore {
				best, bestScore = f, score
			}
		}
		// runs of small finite parts multiply into longer strings
		run := []string{""}
		flush := func() {
			if len(run) > 1 || run[0] != "" {
				consider(run)
			}
			run = []string{""}
		}
		for _, s := range re.Sub {
			if l, ok := language(s, 64); ok && len(run)*len(l) <= maxFactors {
				run = product(run, l)
				continue
			}
			flush()
			if f, ok := necessary(s); ok {
				consider(f)
			}
		}
		flush()
		return best, best != nil
	}
	return nil, false
}

func slicesContainsEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
