package waf

import (
	"fmt"
	"math/rand"
	"net/url"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"
)

// residualRequests builds the requests the residual evaluation is checked on: the CRS
// regression requests, attack and benign corpus lines placed in every part of a request a
// residual rule reads (query and form values and names, cookies, User-Agent, Referer,
// Accept, the path, the method), and hostile mutations (NUL, non-ASCII, %u, backslashes,
// comments, invalid escapes, odd cookie and header shapes).
func residualRequests(t *testing.T) []*Request {
	var reqs []*Request
	ftw := loadFTW(t)
	step, st, mut := 4, 20, 400
	if raceEnabled || testing.Short() {
		step, st, mut = 150, 800, 40 // -race: about 200 requests (~30 s there)
	}
	for i := 0; i < len(ftw); i += step {
		reqs = append(reqs, ftw[i].req)
	}
	root := corpora(t)
	var lines []string
	for _, c := range detectionCorpora {
		ps := readPayloads(t, root, c)
		for i := 0; i < len(ps); i += st {
			lines = append(lines, ps[i])
		}
	}
	rng := rand.New(rand.NewSource(7))
	const hostile = "../\\;%u00%2e%00\x00é\xff/*/ <>'\"`()=&+,\t\r\nABCxyz019^$#?!{}[]-_:@~|*"
	for i := 0; i < mut; i++ {
		var b strings.Builder
		for j := rng.Intn(24); j >= 0; j-- {
			b.WriteByte(hostile[rng.Intn(len(hostile))])
		}
		lines = append(lines, b.String())
	}
	lines = append(lines, "", " ", "0", "2048", "bytes=0-1", "..", "../", "..;/", `..\`, "%2e%2e/", "%u002e%u002e/", "a/*b*/c", "/*",
		"\\u0041", "&lt;script&gt;", "&#x3c;", "\\3c script", "HTTP/1.1", "get / http/1.1", "GET", "HEAD", "127.0.0.1", "[::1]:80")
	for i, l := range lines {
		q := url.QueryEscape(l)
		get := benignGET()
		switch i % 7 {
		case 0:
			get.URI = "/search?q=" + q
		case 1:
			get.URI = "/search?" + q + "=1&" + l
		case 2:
			get.Headers[4][1] = "session=" + l + "; " + l
		case 3:
			get.Headers[0][1] = l
		case 4:
			get.Headers[5][1] = l
		case 5:
			get.Headers[1][1] = l
			get.Headers = append(get.Headers, [2]string{l, l})
		case 6:
			get.URI = "/" + strings.ReplaceAll(url.PathEscape(l), "%2F", "/") + "?" + l
			get.Method = strings.ToUpper(strings.Fields(l + " X")[0])
		}
		post := benignPOST()
		post.Body = []byte("q=" + q + "&note=" + strings.ReplaceAll(l, "&", "%26") + "&" + l)
		reqs = append(reqs, get, post)
	}
	return reqs
}

// headOnly is the head of a residual rule as a rule of its own: no chain, no skips, no
// ctl, its data files found where the rule's own file would find them. Heads read only
// request variables, so many of them can share one engine without affecting each other.
func headOnly(rr *residRule) string {
	toks, _ := secTokens(rr.head[len("SecRule "):])
	var acts []string
	for _, a := range splitActions(toks[2]) {
		l := strings.ToLower(a)
		if l == "chain" || strings.HasPrefix(l, "skip") || strings.HasPrefix(l, "ctl:") {
			continue
		}
		acts = append(acts, a)
	}
	op := toks[1]
	if m := regexp.MustCompile(`^(!?@(?:pmFromFile|pmf) )(.*)$`).FindStringSubmatch(op); m != nil {
		op = m[1] + path.Join(path.Dir(rr.file), m[2])
	}
	return fmt.Sprintf(`SecRule %s "%s" "%s"`, toks[0], op, strings.Join(acts, ","))
}

// TestIdentityResidual checks the residual evaluation against Coraza itself: for every
// accepted rule (at paranoia level 4, so every rule CRS has is reachable), on every
// request where the evaluation says the head cannot match, a Coraza engine holding the
// heads must not match it either. It also counts what the evaluation removes on the CRS
// regression requests with the inputs removableOpt gives it (TestIdentityCRSRegression
// proves those removals leave every fired rule id unchanged) and asserts that it removes
// something there and on the benign GET and POST.
func TestIdentityResidual(t *testing.T) {
	// paranoia level 4 accepts every rule CRS has; under the race detector the shared
	// level-1 engine the other tests built serves (compiling CRS there costs a minute)
	var e *Engine
	var err error
	if raceEnabled || testing.Short() {
		e, err = sharedEngine()
	} else {
		e, err = NewEngine(ftwSettings(false))
	}
	if err != nil {
		t.Fatal(err)
	}
	rules := e.gate.resid.rules
	if len(rules) < 20 {
		t.Fatalf("only %d rules accepted", len(rules))
	}
	var d strings.Builder
	d.WriteString("SecRuleEngine DetectionOnly\nSecRequestBodyAccess On\nSecRequestBodyLimit 131072\n")
	for i := range rules {
		d.WriteString(headOnly(&rules[i]) + "\n")
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(d.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, d.String())
	}
	heads := &Engine{waf: w, set: DefaultSettings()}
	reqs := residualRequests(t)
	reqs = append(reqs, benignGET(), benignPOST())
	refuted := make([]atomic.Int64, len(rules))
	var checked, bad atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rv := newResidValues(reqs[i])
				fired := heads.Inspect(reqs[i], nil).FiredIDs()
				for k := range rules {
					if !rules[k].refutedBy(rv) {
						continue
					}
					refuted[k].Add(1)
					checked.Add(1)
					if slices.Contains(fired, rules[k].id) {
						if bad.Add(1) <= 20 {
							t.Errorf("rule %d: evaluation says it cannot match, Coraza matches %+v", rules[k].id, reqs[i])
						}
					}
				}
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	var per []string
	total := int64(0)
	for k := range rules {
		if n := refuted[k].Load(); n > 0 {
			per = append(per, fmt.Sprintf("%d:%d", rules[k].id, n))
			total += n
		}
	}
	t.Logf("%d accepted rules, %d requests, %d refutations checked against Coraza, %d wrong; per rule: %s",
		len(rules), len(reqs), checked.Load(), bad.Load(), strings.Join(per, " "))
	if total == 0 {
		t.Fatal("the residual evaluation refuted nothing")
	}
	for _, req := range []*Request{benignGET(), benignPOST()} {
		if n := len(e.gate.resid.refuted(req, nil, nil)); n < 10 {
			t.Errorf("%s: only %d residual rules refuted", req.Method, n)
		}
	}
	n, nreq := 0, 0
	for _, req := range reqs {
		if req.RemoteAddr != "127.0.0.1:40000" {
			continue // the regression requests only
		}
		out := e.gate.removableProofs(req, true)
		ab := e.gate.absentRemovable(req)
		for k := range e.gate.native {
			if e.gate.native[k].refutedBy(req) {
				ab = append(ab, e.gate.native[k].id)
			}
		}
		n += len(e.gate.resid.refuted(req, out, ab))
		nreq++
	}
	t.Logf("residual evaluation in the fast path: %d removals on %d regression requests (%.1f per request)", n, nreq, float64(n)/float64(max(nreq, 1)))
	if n == 0 {
		t.Fatal("the residual evaluation removed nothing on the regression requests")
	}
}

// TestResidualUnsetTX: a count of a TX variable is refuted only while no rule can set it:
// a setvar naming it (the CRS regression setup sets tx.max_num_args), or a setvar whose
// name holds a macro after a matching prefix, keeps 920380 (&TX:MAX_NUM_ARGS "@eq 1").
func TestResidualUnsetTX(t *testing.T) {
	const rule = `SecRule &TX:MAX_NUM_ARGS "@eq 1" "id:920380,phase:2,pass,t:none,log"`
	for _, c := range []struct {
		setter string
		accept bool
	}{
		{"", true},
		{`SecAction "id:900005,phase:1,pass,nolog,setvar:tx.max_num_args=255"`, false},
		{`SecAction "id:900006,phase:1,pass,nolog,setvar:'TX.MAX_NUM_ARGS=+1'"`, false},
		{`SecAction "id:900007,phase:1,pass,nolog,setvar:'tx.max_%{REQUEST_METHOD}=1'"`, false},
		{`SecAction "id:900008,phase:1,pass,nolog,setvar:'tx.other_%{REQUEST_METHOD}=1'"`, true},
	} {
		var rules []types.RuleMetadata
		cfg := coraza.NewWAFConfig().WithDirectives(c.setter + "\n" + rule)
		cfg = experimental.WAFConfigWithRuleObserver(cfg, func(r types.RuleMetadata) { rules = append(rules, r) })
		if _, err := coraza.NewWAF(cfg); err != nil {
			t.Fatal(err)
		}
		r := newResidual(rules, 1)
		if got := len(r.rules) == 1; got != c.accept {
			t.Errorf("with %q: accepted %v, want %v", c.setter, got, c.accept)
		}
		if c.accept && len(r.refuted(benignGET(), nil, nil)) != 1 {
			t.Errorf("with %q: 920380 not refuted", c.setter)
		}
	}
}

// TestResidualTransformsMatchCoraza compares residTransform with Coraza's transformations
// on hostile strings (the same one-rule engine technique as TestEmulationMatchesCoraza):
// wherever the emulation claims a result, it must be Coraza's byte for byte.
func TestResidualTransformsMatchCoraza(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const alpha = "\\\"'^ ,;\t\r\n/(AbZz0&#;x3c lt amp/**/\x00\xc3\xa9\xff%u+"
	cases := []string{"", "A  B", " /x", "a ,;b", "C:\\Dir\\(x)", "&lt;&#x3c;&#0", "&#0;", "a/*b", "\x00\x00", "é", "\\3c"}
	n := 3000
	if testing.Short() || raceEnabled {
		n = 200
	}
	cases = append(cases, randomTexts(rng, alpha, n, 16)...)
	for _, tr := range []string{"cmdLine", "removeNulls", "lowercase", "htmlEntityDecode", "utf8toUnicode", "cssDecode", "replaceComments", "length", "urlDecodeUni", "jsDecode"} {
		checked := compareTransform(t, tr, cases, func(v string) (string, bool) { return residTransform(strings.ToLower(tr), v) })
		if checked == 0 {
			t.Errorf("%s: nothing compared", tr)
		}
	}
}

// TestBinaryPattern: every expression Coraza would hand to its binary matcher is refused.
func TestBinaryPattern(t *testing.T) {
	for p, want := range map[string]bool{`\x5c`: false, `[\x00-\x7f]`: false, `\x80`: true, `a\xff`: true, `\\x80`: true,
		`\x{c2}\x{b4}`: true, `\x{100}`: true, `\x{7f}`: false, `(?i)abc`: false} {
		if got := binaryPattern(p); got != want {
			t.Errorf("binaryPattern(%q) = %v, want %v", p, got, want)
		}
	}
}
