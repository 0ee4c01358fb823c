package waf

// Literal factors: the second proof of the fast path. For a regular expression we compute a
// set of strings at least one of which every match must contain (a "necessary factor"
// set). When a rule's transformations provably leave the request's text unchanged (up to
// ASCII case) — no '%' for urlDecode, no '&' for htmlEntityDecode, no '\' for jsDecode,
// and so on, decided on the alphabet — the value the operator sees is a substring of the
// request text, so if no factor occurs in the text of the sources the rule reads, the rule
// cannot match. All factors are found with one case-insensitive Aho-Corasick pass per source
// (factorScan).

import (
	"bytes"
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
func queryUnescape[S string | []byte](s S) []byte {
	return appendQueryUnescape(make([]byte, 0, len(s)), s)
}

// appendQueryUnescape appends queryUnescape(s) to out.
func appendQueryUnescape[S string | []byte](out []byte, s S) []byte {
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

// formText is the decoded names and values of a urlencoded string, one per line; a
// segment without '=' is a name with an empty value, so it gets an empty line too (the
// anchored factors rely on every value being a line).
func formText(q []byte) []byte { return appendFormText(make([]byte, 0, len(q)+16), q) }

// appendFormText appends formText(q) to out.
func appendFormText(out, q []byte) []byte {
	for len(q) > 0 {
		i := 0
		for i < len(q) && q[i] != '&' {
			i++
		}
		seg := q[:i]
		if j := bytes.IndexByte(seg, '='); j >= 0 {
			out = appendQueryUnescape(out, seg[:j])
			out = append(out, '\n')
			out = appendQueryUnescape(out, seg[j+1:])
		} else {
			out = appendQueryUnescape(out, seg)
			out = append(out, '\n')
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
	return languageA(re, limit, false, newMemo(64))
}

// factorMemo remembers languageA's answers per node within one proof computation: the
// candidates below ask for the language of the same large alternations many times.
type factorMemo struct {
	lim int // the language limit of the proof (64; larger for native.go's factors)
	res map[*syntax.Regexp]langResult
}

func newMemo(lim int) factorMemo { return factorMemo{lim: lim, res: map[*syntax.Regexp]langResult{}} }

type langResult struct {
	l  []string
	ok bool
}

// lineMark stands for a line boundary in anchored factors: texts of line-framed sources put
// it before and after every value, so "^sed " becomes the factor "\nsed ".
const lineMark = "\n"

// languageA is language; with anch, the assertions ^ $ \A \z are the string lineMark
// (see necessaryA).
func languageA(re *syntax.Regexp, limit int, anch bool, m factorMemo) ([]string, bool) {
	if limit == m.lim {
		if r, ok := m.res[re]; ok {
			return r.l, r.ok
		}
		l, ok := languageRaw(re, limit, anch, m)
		m.res[re] = langResult{l, ok}
		return l, ok
	}
	return languageRaw(re, limit, anch, m)
}

func languageRaw(re *syntax.Regexp, limit int, anch bool, m factorMemo) ([]string, bool) {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		if anch {
			return []string{lineMark}, true
		}
		return nil, false
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
			if hi > 0x7f {
				// a class with non-ASCII members has no finite byte language (a value
				// may hold any rune there); specialised expressions never get here
				return nil, false
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
		return languageA(re.Sub[0], limit, anch, m)
	case syntax.OpQuest:
		l, ok := languageA(re.Sub[0], limit, anch, m)
		if !ok || len(l)+1 > limit {
			return nil, false
		}
		return append(l, ""), true
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			l, ok := languageA(s, limit, anch, m)
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
			l, ok := languageA(s, limit, anch, m)
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
func necessary(re *syntax.Regexp) ([]string, bool) { return necessaryA(re, false) }

// necessaryA is necessary; with anch, a line or text boundary (^ $ \A \z, all in (?m)
// mode as Coraza compiles) is the character lineMark, so the factors hold only in texts
// where every value the operator sees stands on a line of its own (lineMark before and
// after it): in such a text a boundary of the value is a lineMark, and a '\n' inside the
// value is one too. Measured: 932250 (Unix commands after a separator or at the start of a
// value) ran its 1.5 ms regular expression on the benign POST because "sed " occurs inside
// "raised beds"; its anchored factor "\nsed " does not.
func necessaryA(re *syntax.Regexp, anch bool) ([]string, bool) {
	return necessaryD(re, anch, 0, newMemo(64))
}

// necessaryD is necessaryA at nesting depth: the costlier candidates (a leading
// alternation split by branch, preceding bytes) are tried near the top only, which keeps
// the compilation of the proofs to seconds.
func necessaryD(re *syntax.Regexp, anch bool, depth int, m factorMemo) ([]string, bool) {
	if l, ok := languageA(re, m.lim, anch, m); ok {
		if slicesContainsEmpty(l) {
			return nil, false
		}
		return l, true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return necessaryD(re.Sub[0], anch, depth+1, m)
	case syntax.OpRepeat:
		if re.Min == 0 {
			return nil, false
		}
		return necessaryD(re.Sub[0], anch, depth+1, m)
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			f, ok := necessaryD(s, anch, depth+1, m)
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
		n := len(re.Sub)
		langs := make([][]string, n)
		langOK := make([]bool, n)
		for k, s := range re.Sub {
			langs[k], langOK[k] = languageA(s, m.lim, anch, m)
		}
		// pre[k]: how a match of parts k.. starts (prefixSet of the rest, built backwards)
		var pre [][]string
		if anch && depth <= 1 {
			pre = make([][]string, n+1)
			for k := n - 1; k >= 0; k-- {
				switch {
				case langOK[k] && pre[k+1] != nil && len(langs[k])*len(pre[k+1]) <= maxFactors:
					pre[k] = product(langs[k], pre[k+1])
				case langOK[k] && !slicesContainsEmpty(langs[k]):
					pre[k] = langs[k]
				case !langOK[k]:
					if p, ok := prefixSet(re.Sub[k], anch, m); ok {
						pre[k] = p
					}
				}
			}
		}
		for k, s := range re.Sub {
			// what must come before part k: the byte just before its match, then how its
			// match (and what follows) starts. Measured: 932250 (a Unix command after a
			// separator) was kept on benign prose by "sed " in "raised beds"; the command
			// must follow '\n', ' ' or '/', so " sed " and "\nsed " are its factors.
			if pre != nil && pre[k] != nil {
				if pc, ok := precedingChars(re.Sub, k, anch); ok && len(pre[k])*pc.count() <= maxFactors {
					consider(product(charStrings(pc), pre[k]))
				}
			}
			if l, ok := langs[k], langOK[k]; ok && len(run)*len(l) <= maxFactors {
				run = product(run, l)
				continue
			}
			flush()
			if f, ok := necessaryD(s, anch, depth+1, m); ok {
				consider(f)
			}
		}
		flush()
		// a leading alternation: every match goes through one branch, so the union of
		// each branch's factors (with the rest of the concatenation) will do
		if first := re.Sub[0]; anch && depth == 0 && first.Op == syntax.OpAlternate && len(first.Sub) <= 16 {
			var all []string
			ok := true
			for _, b := range first.Sub {
				sub := &syntax.Regexp{Op: syntax.OpConcat, Sub: append([]*syntax.Regexp{b}, re.Sub[1:]...)}
				f, fok := necessaryD(sub, anch, depth+1, m)
				if !fok || len(all)+len(f) > maxFactors {
					ok = false
					break
				}
				all = append(all, f...)
			}
			if ok {
				consider(dedupe(all))
			}
		}
		return best, best != nil
	}
	return nil, false
}

// charStrings is the one-byte strings of a (lowercase).
func charStrings(a alphabet) []string {
	var out []string
	for c := 0; c < 0x80; c++ {
		if a.has(byte(c)) {
			out = append(out, string(rune(c)))
		}
	}
	return out
}

// precedingChars is the set of bytes that can stand just before the match of subs[k] in a
// match of the concatenation subs (lowercased): the last bytes of the parts before it, back
// to the first that cannot match the empty string. With anch, ^ and \A are the byte '\n'
// before a line-framed value. ok=false when the start of the concatenation is reached (the
// byte before is then unknown) or a part is not understood.
func precedingChars(subs []*syntax.Regexp, k int, anch bool) (alphabet, bool) {
	var p alphabet
	for j := k - 1; j >= 0; j-- {
		c, nullable, ok := lastChars(subs[j], anch)
		if !ok {
			return p, false
		}
		p = p.union(c)
		if !nullable {
			return p, true
		}
	}
	return p, false
}

// lastChars is the set of bytes a non-empty match of re can end with (lowercased), and
// whether re can match the empty string. Zero-width assertions are empty matches, except
// ^ and \A with anch, which stand for the '\n' before a framed value.
func lastChars(re *syntax.Regexp, anch bool) (a alphabet, nullable, ok bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpEndLine, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return a, true, true
	case syntax.OpBeginLine, syntax.OpBeginText:
		if anch {
			a.add('\n')
			return a, false, true
		}
		return a, true, true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return a, true, true
		}
		r := re.Rune[len(re.Rune)-1]
		if r > 0x7f {
			return a, false, false
		}
		a.add(byte(unicode.ToLower(r)))
		return a, false, true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi > 0x7f {
				return a, false, false
			}
			for r := lo; r <= hi; r++ {
				a.add(byte(unicode.ToLower(r)))
			}
		}
		return a, false, true
	case syntax.OpCapture:
		return lastChars(re.Sub[0], anch)
	case syntax.OpStar, syntax.OpQuest:
		a, _, ok = lastChars(re.Sub[0], anch)
		return a, true, ok
	case syntax.OpPlus:
		return lastChars(re.Sub[0], anch)
	case syntax.OpRepeat:
		a, nullable, ok = lastChars(re.Sub[0], anch)
		return a, nullable || re.Min == 0, ok
	case syntax.OpConcat:
		for j := len(re.Sub) - 1; j >= 0; j-- {
			c, n, ok := lastChars(re.Sub[j], anch)
			if !ok {
				return a, false, false
			}
			a = a.union(c)
			if !n {
				return a, false, true
			}
		}
		return a, true, true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			c, n, ok := lastChars(s, anch)
			if !ok {
				return a, false, false
			}
			a = a.union(c)
			nullable = nullable || n
		}
		return a, nullable, true
	}
	return a, false, false // any character, or not understood
}

// prefixSet returns strings one of which every match of re starts with (lowercased), none
// of them empty; ok=false when none is known.
func prefixSet(re *syntax.Regexp, anch bool, m factorMemo) ([]string, bool) {
	if l, ok := languageA(re, m.lim, anch, m); ok {
		return l, !slicesContainsEmpty(l)
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return prefixSet(re.Sub[0], anch, m)
	case syntax.OpRepeat:
		if re.Min == 0 {
			return nil, false
		}
		return prefixSet(re.Sub[0], anch, m)
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			p, ok := prefixSet(s, anch, m)
			if !ok || len(out)+len(p) > maxFactors {
				return nil, false
			}
			out = append(out, p...)
		}
		return dedupe(out), true
	case syntax.OpConcat:
		acc := []string{""}
		for _, s := range re.Sub {
			if l, ok := languageA(s, m.lim, anch, m); ok && len(acc)*len(l) <= maxFactors {
				acc = product(acc, l)
				continue
			}
			if p, ok := prefixSet(s, anch, m); ok && len(acc)*len(p) <= maxFactors {
				acc = product(acc, p)
			}
			break
		}
		return acc, !slicesContainsEmpty(acc)
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

// factorScan is an Aho-Corasick automaton over the factors, ASCII case-insensitive, as a
// dense DFA over byte classes. It replaces a general library whose overlapping iterator
// allocated per match: measured, a third of the gate's time on the benign GET. A scan
// reports each factor occurring in a text; factors are unique, so each ends at exactly one
// state, and a state reached before in the same scan has had its whole output chain
// reported, which lets prose that repeats the same short factors pay for them once.
type factorScan struct {
	class  [256]uint8
	nClass int
	next   []int32 // state*nClass + class
	pat    []int32 // per state: the factor ending here, or -1
	dict   []int32 // per state: the nearest proper suffix state with a factor, or -1
}

func foldByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 32
	}
	return c
}

func newFactorScan(pats []string) *factorScan {
	a := &factorScan{}
	// class 0: bytes in no factor (they lead back to the root from everywhere)
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[foldByte(p[i])] = true
		}
	}
	n := 1
	for c := 0; c < 256; c++ {
		if used[c] {
			a.class[c] = uint8(n)
			n++
		}
	}
	if n > 256 {
		panic("factorScan: more than 255 byte classes")
	}
	for c := 'A'; c <= 'Z'; c++ {
		a.class[c] = a.class[c+32]
	}
	a.nClass = n
	newState := func() int32 {
		s := int32(len(a.pat))
		a.pat = append(a.pat, -1)
		a.dict = append(a.dict, -1)
		for i := 0; i < n; i++ {
			a.next = append(a.next, -1)
		}
		return s
	}
	newState() // the root
	for id, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			k := int(s)*n + int(a.class[p[i]])
			if a.next[k] < 0 {
				t := newState()
				a.next[k] = t
			}
			s = a.next[int(s)*n+int(a.class[p[i]])]
		}
		a.pat[s] = int32(id)
	}
	// breadth first: failure links, then the missing transitions follow them
	fail := make([]int32, len(a.pat))
	queue := []int32{0}
	for c := 0; c < n; c++ {
		if t := a.next[c]; t > 0 {
			fail[t] = 0
			queue = append(queue, t)
		} else {
			a.next[c] = 0
		}
	}
	for qi := 1; qi < len(queue); qi++ {
		s := queue[qi]
		f := fail[s]
		if a.pat[f] >= 0 {
			a.dict[s] = f
		} else {
			a.dict[s] = a.dict[f]
		}
		for c := 0; c < n; c++ {
			k := int(s)*n + c
			if t := a.next[k]; t >= 0 {
				fail[t] = a.next[int(f)*n+c]
				queue = append(queue, t)
			} else {
				a.next[k] = a.next[int(f)*n+c]
			}
		}
	}
	// renumber in breadth-first order: the shallow states, where a scan spends most of
	// its time, share cache lines (measured: a fifth off the scan of the benign POST)
	renum := make([]int32, len(queue))
	for i, s := range queue {
		renum[s] = int32(i)
	}
	next := make([]int32, len(a.next))
	pat := make([]int32, len(a.pat))
	dict := make([]int32, len(a.dict))
	for i, s := range queue {
		for c := 0; c < n; c++ {
			next[i*n+c] = renum[a.next[int(s)*n+c]]
		}
		pat[i] = a.pat[s]
		dict[i] = -1
		if d := a.dict[s]; d >= 0 {
			dict[i] = renum[d]
		}
	}
	a.next, a.pat, a.dict = next, pat, dict
	return a
}

func (a *factorScan) states() int { return len(a.pat) }

// stateSet is a set of automaton states that is cheap to empty: it remembers which of
// its words it set (a scan of a short text touches a few of its thousand words).
type stateSet struct {
	bits  []uint64
	dirty []int32
}

func (s *stateSet) reset(states int) {
	if len(s.bits) < states/64+1 {
		s.bits = make([]uint64, states/64+1)
		s.dirty = s.dirty[:0]
		return
	}
	for _, w := range s.dirty {
		s.bits[w] = 0
	}
	s.dirty = s.dirty[:0]
}

// scan calls found for every factor occurring in t whose state is not yet in seen, and
// adds the states it passes to seen.
func (a *factorScan) scan(t []byte, seen *stateSet, found func(pat int32)) {
	s := int32(0)
	n := int32(a.nClass)
	bits := seen.bits
	for _, c := range t {
		s = a.next[s*n+int32(a.class[c])]
		for u := s; u > 0 && bits[u>>6]&(1<<(u&63)) == 0; u = a.dict[u] {
			if bits[u>>6] == 0 {
				seen.dirty = append(seen.dirty, u>>6)
			}
			bits[u>>6] |= 1 << (u & 63)
			if p := a.pat[u]; p >= 0 {
				found(p)
			}
		}
	}
}

// containsFactor reports whether some factor of a occurs in t.
func containsFactor[S string | []byte](a *factorScan, t S) bool {
	s := int32(0)
	n := int32(a.nClass)
	for i := 0; i < len(t); i++ {
		s = a.next[s*n+int32(a.class[t[i]])]
		if a.pat[s] >= 0 || a.dict[s] >= 0 {
			return true
		}
	}
	return false
}
