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
		step, st, mut = 40, 200, 60
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

// TestResidualMatchesCoraza checks the residual evaluation against Coraza itself: for
// every accepted rule (at paranoia level 4, so every rule CRS has is reachable), on every
// request where the evaluation says the head cannot match, a Coraza engine holding only
// that head must not match either. It also asserts that the evaluation does refute rules
// (on the benign GET and POST among others).
func TestResidualMatchesCoraza(t *testing.T) {
	e, err := NewEngine(ftwSettings(false))
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
}

// TestResidualUnsetTX: a count of a TX variable is refuted only while no rule can set it.
// The CRS regression setup sets tx.max_num_args (and the other limits), so there 920380
// must stay; in the default settings nothing sets it and its "@eq 1" cannot match. A
// setvar whose name holds a macro after a matching prefix also counts as a setter.
func TestResidualUnsetTX(t *testing.T) {
	accepted := func(e *Engine, id int) bool {
		for _, r := range e.gate.resid.rules {
			if r.id == id {
				return true
			}
		}
		return false
	}
	def, err := sharedEngine()
	if err != nil {
		t.Fatal(err)
	}
	if !accepted(def, 920380) || !slices.Contains(def.gate.removable(benignGET()), 920380) {
		t.Error("default settings: 920380 (&TX:MAX_NUM_ARGS @eq 1) not refuted")
	}
	reg, err := NewEngine(ftwSettings(false))
	if err != nil {
		t.Fatal(err)
	}
	if accepted(reg, 920380) {
		t.Error("regression settings set tx.max_num_args, yet 920380 was accepted")
	}
	s := DefaultSettings()
	s.Extra = `SecAction "id:900777,phase:1,pass,nolog,setvar:'tx.max_%{REQUEST_METHOD}=1'"`
	mac, err := NewEngine(s)
	if err != nil {
		t.Fatal(err)
	}
	if accepted(mac, 920380) {
		t.Error("a setvar of tx.max_%{...} may set tx.max_num_args, yet 920380 was accepted")
	}
}

// TestIdentityResidualFires counts what the residual evaluation removes on the CRS
// regression requests, with the inputs removableOpt gives it (the identity tests prove
// that these removals leave every fired rule id unchanged): it must remove something.
func TestIdentityResidualFires(t *testing.T) {
	e, err := NewEngine(ftwSettings(false))
	if err != nil {
		t.Fatal(err)
	}
	cases := loadFTW(t)
	step := 4
	if raceEnabled || testing.Short() {
		step = 40
	}
	n, reqs := 0, 0
	for i := 0; i < len(cases); i += step {
		req := cases[i].req
		out := e.gate.removableProofs(req, true)
		ab := e.gate.absentRemovable(req)
		for k := range e.gate.native {
			if e.gate.native[k].refutedBy(req) {
				ab = append(ab, e.gate.native[k].id)
			}
		}
		n += len(e.gate.resid.refuted(req, out, ab))
		reqs++
	}
	t.Logf("residual evaluation: %d removals on %d regression requests (%.1f per request)", n, reqs, float64(n)/float64(reqs))
	if n == 0 {
		t.Fatal("the residual evaluation removed nothing on the regression requests")
	}
}
