package waf

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"testing"
)

func parse(t *testing.T, re string) *syntax.Regexp {
	t.Helper()
	r, err := syntax.Parse("(?sm)"+re, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return r.Simplify()
}

// The proofs must err towards "can match": each case here is an input an attacker could
// use to slip past a careless version of them.
func TestAlphabetProofs(t *testing.T) {
	letters := alphabetOf("abcdefghijklmnopqrstuvwxyz ")
	if regexCanMatch(parse(t, `<script[^>]*>`), &letters) {
		t.Fatal("'<' is not in the alphabet, yet the proof says <script can match")
	}
	if !regexCanMatch(parse(t, `(?i)SELECT`), &letters) {
		t.Fatal("case folding ignored: (?i)SELECT can match lowercase letters")
	}
	if !regexCanMatch(parse(t, `x*`), &letters) {
		t.Fatal("an expression matching the empty string matches every input")
	}
	// url-decoding: escapes reach the value
	if a := decodedAlphabet([]byte("q=%3Cscript")); !a.has('<') {
		t.Fatal("%3C must put '<' in the decoded alphabet")
	}
	if a := decodedAlphabet([]byte("q=%u003cscript")); !a.full() {
		t.Fatal("%u escapes can produce anything")
	}
	if a := formAlphabet([]byte("a=1+2&b=x")); !a.has(' ') || a.has('&') || a.has('+') {
		t.Fatalf("form values: '+' is a space, '&' never reaches a value: %v", a)
	}
	// transformations that decode must widen the alphabet to everything
	amp := alphabetOf("&lt;")
	if !transformAlphabet("htmlEntityDecode", amp).full() {
		t.Fatal("htmlEntityDecode of '&...' can produce any byte")
	}
	bs := alphabetOf(`\u003c`)
	for _, tr := range []string{"jsDecode", "cssDecode", "escapeSeqDecode", "base64Decode", "hexDecode", "sqlHexDecode", "unknownOne"} {
		if !transformAlphabet(tr, bs).full() {
			t.Fatalf("%s must widen to everything", tr)
		}
	}
	if identityOn("urlDecodeUni", alphabetOf("%41")) || identityOn("removeWhitespace", alphabetOf("a b")) || identityOn("cmdLine", alphabetOf("a'b")) {
		t.Fatal("a transformation that changes the text was taken for the identity")
	}
	// cookies: Coraza splits at ';' and '=', the raw header keeps them
	if a := cookieAlphabet("a=b; c=d=e"); a.has(';') || !a.has('=') {
		t.Fatalf("cookie alphabet %v", a)
	}
}

func TestNecessaryFactors(t *testing.T) {
	tier := tiers[0]
	f, ok := necessary(specialize(parse(t, `(?i)\bunion\b[\s\x0b]+(?:all\s+)?select`), &tier))
	if !ok || !(slices.Contains(f, "union") || slices.Contains(f, "select")) {
		t.Fatalf("factors %v %v", f, ok)
	}
	// alternatives: every branch contributes, or there is no factor set at all
	f, ok = necessary(specialize(parse(t, `(?:foo|ba+r)`), &tier))
	if !ok || !slices.Contains(f, "foo") || !slices.Contains(f, "b") && !slices.Contains(f, "r") && !slices.Contains(f, "a") {
		t.Fatalf("alternation factors %v", f)
	}
	if _, ok := necessary(specialize(parse(t, `(?:foo|.*)`), &tier)); ok {
		t.Fatal("a branch matching anything leaves no necessary factor")
	}
	// evasion junk that needs bytes outside the tier disappears, so the letters join
	f, ok = necessary(specialize(parse(t, `c["'\\]*a["'\\]*t`), &tier))
	if !ok || !slices.Contains(f, "cat") {
		t.Fatalf("specialised factors %v", f)
	}
}

// htmlInert lets htmlEntityDecode count as the identity; each case here is a way to smuggle
// an entity past a careless version of it.
func TestHTMLInert(t *testing.T) {
	get := func(uri string) *Request {
		r := benignGET()
		r.URI = uri
		return r
	}
	inert := func(r *Request) bool { s := sourceAlphabets(r); return htmlInert(r, &s) }
	if !inert(get("/shop?page=2&sort=price&category=garden-tools")) {
		t.Fatal("plain query separators decode to nothing, yet the request was not inert")
	}
	for _, uri := range []string{
		"/p?a=1&lt=2",        // legacy entity without ';' right after a separator
		"/p?a=1&notes=x",     // "&not" is a legacy prefix of the run "notes"
		"/p?q=a%26lt%3Bb",    // the entity only appears once the argument is url-decoded
		"/p?a=1&#60;",        // numeric entities
		"/p?a=1&LT=2",        // upper case entity
		"/p?a=1&Nbsp=2",      // becomes an entity once lowercased
		"/p?q=x+%26amp%3B+y", // decoded argument with '+' read as a space
		"/p?a=1&Amp;b=2",     // lowercase turns &Amp; into &amp;
	} {
		if inert(get(uri)) {
			t.Errorf("%s: an entity can decode, yet the request was taken as inert", uri)
		}
	}
	post := benignPOST()
	post.Body = []byte("a=1&lt;b=2")
	if inert(post) {
		t.Error("body with &lt; taken as inert")
	}
	post.Headers = append(post.Headers[:len(post.Headers):len(post.Headers)], [2]string{"X-Note", "fish &amp chips"})
	post.Body = []byte("a=1&b=2")
	if inert(post) {
		t.Error("header with &amp taken as inert")
	}
}

// Sources are judged one by one only where every value comes from one source: the request
// line joins method, target and protocol, and REQUEST_BODY is judged with what the body
// processor derives.
func TestPerSourceGroups(t *testing.T) {
	c, ok := analyse(1, `SecRule REQUEST_LINE "@rx (?i)^get /a\?b=c http" "id:1,phase:1,t:none"`)
	if !ok || !c.mixed {
		t.Fatalf("REQUEST_LINE must be judged as one value of several sources: %+v", c)
	}
	c, ok = analyse(2, `SecRule ARGS|REQUEST_BODY "@rx <x" "id:2,phase:2,t:none"`)
	if !ok || c.mixed || c.joint != srcBodyRaw|srcBodyArgs {
		t.Fatalf("REQUEST_BODY: raw and processed body judged together: %+v", c)
	}
	// one source that can match keeps the rule even when the others cannot
	r := benignGET()
	r.URI = "/p?q=%3Cx"
	s := sourceAlphabets(r)
	if c.alphabetMask(&s, srcArgsGet, false).has('<') == false || !c.canMatch(c.alphabetMask(&s, srcArgsGet, false)) {
		t.Fatal("the decoded query argument can hold '<x'")
	}
}

// Anchored factors: a line boundary is the byte '\n' of a line-framed text, and the byte
// before a part of a concatenation narrows its factors. Each case is a value that matches
// the expression and so must leave one of the factors in its framed text.
func TestAnchoredFactors(t *testing.T) {
	tier := tiers[2] // letters, digits and the URL punctuation, ';' and '&' among it
	re := parse(t, `(?i)(?:^|[;|&]|\benv )[ ]*(?:[a-z/]+/)?(?:sed|ls)[ ,]`)
	f, ok := necessaryA(specialize(re, &tier), true)
	if !ok {
		t.Fatal("no anchored factors")
	}
	occurs := func(text string) bool {
		lt := strings.ToLower(text)
		for _, x := range f {
			if strings.Contains(lt, x) {
				return true
			}
		}
		return false
	}
	for _, v := range []string{"sed x", "a;sed x", "a; /bin/sed x", "env  ls,", "x\nls y", "SED x"} {
		if !regexp.MustCompile(`(?sm)`+re.String()).MatchString(v) || !subset(alphabetOf(v), tier) {
			t.Fatalf("test value %q does not match or is outside the tier", v)
		}
		if !occurs("\n" + v + "\n") {
			t.Errorf("%q matches, yet none of the factors %q occurs in its framed text", v, f)
		}
	}
	if occurs("\nraised beds and lots of seeds\n") {
		t.Errorf("prose without a command after a separator kept the rule: %q", f)
	}
	// without framing the start of a value is not a '\n': the plain set must not rely on it
	p, ok := necessary(specialize(re, &tier))
	if ok && slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, "\n") }) {
		t.Fatalf("plain factors use line marks: %q", p)
	}
	// every form value is a line of its own, the empty ones included
	if got := string(framedForm([]byte("a&b=&c=sed+x"))); got != "\na\n\nb\n\nc\nsed x\n" {
		t.Fatalf("framed form text %q", got)
	}
	// Coraza drops the fragment before it parses the query
	r := benignGET()
	r.URI = "/p?q=ls#frag"
	if got := string(sourceTexts(r, srcArgsGet)[1][0]); got != "\nq\nls\n" {
		t.Fatalf("query text %q", got)
	}
}

// The factor scan reads only windows of the '+'-as-space variant: every factor occurrence
// in the variant must still be found in the text or in a window, wherever the '+' are.
func TestPlusWindows(t *testing.T) {
	const maxPat = 5
	texts := []string{"a+b", "+", "++++", "ab+cd+ef", "x+yyyyyyyyyyyy+z", "no plus", "+abcdefghijklm+", "a+b+c+d"}
	for _, txt := range texts {
		v := strings.ReplaceAll(txt, "+", " ")
		ws := plusWindows([]byte(txt), []byte(v), maxPat, [][]byte{[]byte(txt)})
		for i := 0; i < len(v); i++ {
			for j := i + 1; j <= len(v) && j-i <= maxPat; j++ {
				f := v[i:j]
				found := false
				for _, w := range ws {
					if strings.Contains(string(w), f) {
						found = true
					}
				}
				if !found {
					t.Errorf("%q: factor %q of the variant is in no scanned text %q", txt, f, ws)
				}
			}
		}
	}
}

// A rule that url-decodes QUERY_STRING and REQUEST_BODY first is judged on the decoded
// texts; each case here is an encoding that must still reach the proof.
func TestDecodedSources(t *testing.T) {
	c, ok := analyse(1, `SecRule QUERY_STRING|REQUEST_BODY "@rx =https?://" "id:1,phase:2,t:none,t:urlDecodeUni"`)
	if !ok || c.src != srcQueryDec|srcBodyDec || len(c.trans) != 1 {
		t.Fatalf("decoded sources not used: %+v", c)
	}
	if c, _ := analyse(2, `SecRule QUERY_STRING|REQUEST_BODY "@rx =https?://" "id:2,phase:2,t:none,t:urlDecodeUni,multiMatch"`); c.src&(srcQueryDec|srcBodyDec) != 0 {
		t.Fatal("multiMatch also shows the raw value to the operator: the raw sources must stay")
	}
	if c, _ := analyse(3, `SecRule ARGS|REQUEST_BODY "@rx =https?://" "id:3,phase:2,t:none,t:urlDecodeUni"`); c.src&(srcQueryDec|srcBodyDec) != 0 {
		t.Fatal("ARGS are decoded twice by this rule: the decoded sources do not apply")
	}
	post := benignPOST()
	post.Body = []byte("u=x%3Dhttp%3A%2F%2Fevil&v=1")
	s := sourceAlphabets(post)
	if !s[13].has(':') || !s[13].has('=') {
		t.Fatal("the decoded body alphabet misses what %3A and %3D decode to")
	}
	if got := string(sourceTexts(post, srcBodyDec)[13][0]); got != "u=x=http://evil&v=1" {
		t.Fatalf("decoded body text %q", got)
	}
	post.Body = []byte("u=%u003a")
	if s := sourceAlphabets(post); !s[13].full() {
		t.Fatal("a %u escape can decode to anything")
	}
	get := benignGET()
	get.URI = "/p?u=http%3A%2F%2Fx#frag%3A"
	if got := string(sourceTexts(get, srcQueryDec)[12][0]); got != "u=http://x" {
		t.Fatalf("decoded query %q (Coraza drops the fragment)", got)
	}
}

// Absent variables: a rule goes only when the request has none of what it reads; each
// case here is a way the variable could still be there.
func TestAbsentRules(t *testing.T) {
	for _, raw := range []string{
		`SecRule &REQUEST_HEADERS:Range "@eq 0" "id:1,phase:1"`,           // a count is a value even for no header
		`SecRule REQUEST_HEADERS:/^x-/ "@rx a" "id:2,phase:1"`,            // a key expression
		`SecRule REQUEST_HEADERS|ARGS "@rx a" "id:3,phase:1"`,             // every header
		`SecRule REQUEST_HEADERS:Range|ARGS "@rx a" "id:4,phase:1"`,       // ARGS too
		`SecRule REQUEST_HEADERS:Range|!REQUEST_HEADERS:X "@rx a" "id:5"`, // not modelled
		`SecAction "id:6,phase:1,pass"`,
	} {
		if _, ok := absentOnly(1, raw); ok {
			t.Errorf("%s taken for a rule on absent variables", raw)
		}
	}
	a, ok := absentOnly(7, `SecRule FILES|REQUEST_HEADERS:X-Filename|XML:/* "!@rx ^x$" "id:7,phase:2"`)
	if !ok || !a.files || !a.xml || len(a.headers) != 1 || a.headers[0] != "x-filename" {
		t.Fatalf("absent rule %+v %v", a, ok)
	}
	g := &gate{absent: []absentRule{a}}
	has := func(r *Request) bool { return len(g.absentRemovable(r)) == 0 }
	r := benignGET()
	if has(r) {
		t.Fatal("a GET without X-Filename, files or XML keeps the rule")
	}
	r.Headers = append(r.Headers, [2]string{"x-FILENAME", "a.php"})
	if !has(r) {
		t.Fatal("header names compare case-insensitively")
	}
	for _, ct := range []string{"multipart/form-data; boundary=x", "text/XML"} {
		r := benignPOST()
		r.Headers = append(r.Headers, [2]string{"Content-Type", ct})
		if !has(r) {
			t.Errorf("Content-Type %s can bring FILES or XML", ct)
		}
	}
}

// The verifiers' automaton must answer exactly what regexp.Match answers: on hand-made
// expressions whose assertions depend on the bytes around a position, and on the CRS
// rules' verifiers over corpus payloads and random texts framed as the gate frames them.
func TestLazyDFAMatchesRegexp(t *testing.T) {
	exprs := []string{`^abc$`, `(?m)^abc$`, `(?i)\bsel\b`, `\Bx\B`, `\Aa`, `a\z`, `(?s)a.b`, `a.b`, ``, `x*`,
		`(?i)(?:(?m:^)[a-z]+=\d+(?m:$))`, `(?:\n|^)cmd\b`, `[^a-z]on\w+=`, `\b(?:or|and)\b\s*\d`}
	e, err := sharedEngine()
	if err != nil {
		t.Fatal(err)
	}
	for i := range e.gate.checks {
		c := &e.gate.checks[i]
		if c.re == nil || !c.big {
			continue
		}
		for ti := range tiers {
			if sp := specialize(c.re, &tiers[ti]); sp != nil {
				exprs = append(exprs, "(?i)(?:"+sp.String()+")")
			}
		}
	}
	var texts []string
	root := corpora(t)
	step, random := 97, 300
	if raceEnabled || testing.Short() {
		// regexp.Match on the large expressions is slow under the race detector (45 s on
		// the loaded 2-core machine with the plain sample sizes below)
		step, random = 1499, 100
	}
	for _, cp := range detectionCorpora {
		ps := readPayloads(t, root, cp)
		for i := 0; i < len(ps); i += step {
			texts = append(texts, ps[i], "\n"+ps[i]+"\n", "\nq\n"+ps[i]+"\nnote\n")
		}
	}
	rnd := uint64(1)
	const pool = "ab sel or and\n=1(;'\"<>x_-.\\$|&`{}"
	for i := 0; i < random; i++ {
		var b []byte
		for j := 0; j < i%40; j++ {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			b = append(b, pool[rnd>>33%uint64(len(pool))])
		}
		texts = append(texts, string(b))
	}
	texts = append(texts, benignGET().Headers[0][1], "\n"+benignGET().Headers[0][1]+"\n", "é\nabc", "")
	if len(exprs) < 30 {
		t.Fatalf("only %d expressions", len(exprs))
	}
	answered := 0
	for _, x := range exprs {
		re := regexp.MustCompile(x)
		d := newLazyDFA(x)
		if d == nil {
			t.Fatalf("%.80s: no automaton", x)
		}
		for _, tx := range texts {
			m, ok := d.match([]byte(tx))
			if !ok {
				continue
			}
			answered++
			if want := re.MatchString(tx); m != want {
				t.Fatalf("%.200s on %q: automaton %v, regexp %v", x, tx, m, want)
			}
		}
	}
	// the automaton grows while several requests read it
	x := exprs[len(exprs)-1]
	re, d := regexp.MustCompile(x), newLazyDFA(x)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(texts); i += 2 {
				if m, ok := d.match([]byte(texts[i])); ok && m != re.MatchString(texts[i]) {
					t.Errorf("concurrent: %q: automaton %v", texts[i], m)
				}
			}
		}()
	}
	wg.Wait()
	if answered < len(exprs)*len(texts)/2 {
		t.Fatalf("the automaton answered only %d of %d", answered, len(exprs)*len(texts))
	}
	t.Logf("%d expressions, %d texts, %d answers equal to regexp.Match", len(exprs), len(texts), answered)
}

// The alphabets computed without decoding must equal those of the decodings themselves.
func TestAlphabetsWithoutDecoding(t *testing.T) {
	byPieces := func(q []byte) alphabet {
		var a alphabet
		for _, seg := range strings.Split(string(q), "&") {
			if k, v, ok := strings.Cut(seg, "="); ok {
				a = a.union(alphabetOfBytes(queryUnescape(k))).union(alphabetOfBytes(queryUnescape(v)))
			} else {
				a = a.union(alphabetOfBytes(queryUnescape(seg)))
			}
		}
		return a
	}
	rnd := uint64(7)
	const pool = "a=&%+4Fz1g=%%&="
	for i := 0; i < 5000; i++ {
		var b []byte
		for j := 0; j < i%90; j++ {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			b = append(b, pool[rnd>>33%uint64(len(pool))])
		}
		if got, want := formAlphabet(b), byPieces(b); got != want {
			t.Fatalf("formAlphabet(%q) = %v, want %v", b, got, want)
		}
		if got, want := unescapedAlphabet(b), alphabetOfBytes(queryUnescape(b)); got != want {
			t.Fatalf("unescapedAlphabet(%q) = %v, want %v", b, got, want)
		}
		var want alphabet
		for _, c := range b {
			want.add(c)
		}
		if got := alphabetOfBytes(b); got != want {
			t.Fatalf("alphabetOfBytes(%q) = %v, want %v", b, got, want)
		}
	}
}
