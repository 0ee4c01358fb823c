package waf

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// stockPL1 is the stock engine at the default settings, shared by this file's tests.
var stockPL1 = sync.OnceValues(func() (*Engine, error) {
	s := DefaultSettings()
	s.Stock = true
	return NewEngine(s)
})

// identityRequests are the CRS regression requests (every step-th), the benchmark's benign
// GET and POST, and the benign corpora sent as a query parameter and as a form field.
func identityRequests(t *testing.T, step, corpusStep int) []*Request {
	var reqs []*Request
	cases := loadFTW(t)
	for i := 0; i < len(cases); i += step {
		reqs = append(reqs, cases[i].req)
	}
	reqs = append(reqs, benignGET(), benignPOST())
	root := corpora(t)
	for _, c := range detectionCorpora {
		if c.attack {
			continue
		}
		ps := readPayloads(t, root, c)
		for i := 0; i < len(ps); i += corpusStep {
			get := benignGET()
			get.URI = "/search?q=" + url.QueryEscape(ps[i])
			post := benignPOST()
			post.Body = []byte("note=" + url.QueryEscape(ps[i]))
			reqs = append(reqs, get, post)
		}
	}
	return reqs
}

// sameResult compares everything a Result says: fired ids, score, block decision, status,
// disruptive rule and every match with its message, variable, data and tags.
func sameResult(a, b Result) bool {
	return slices.Equal(a.fired, b.fired) && a.InboundScore == b.InboundScore && a.Block == b.Block &&
		a.Status == b.Status && a.RuleID == b.RuleID && reflect.DeepEqual(a.Matches, b.Matches)
}

// stockCouldSay decides a Result that differs from the stock engine's only in a match's
// variable, data or message. Coraza reports, of the values a rule matched, the first one
// it met while ranging over a Go map (REQUEST_HEADERS_NAMES, TX:/regex/), so which one
// comes first changes from run to run of the stock engine itself. The stock engine is
// run again (up to 400 times) until, at every match, it has said what fast says; every
// other field must be equal as it is.
func stockCouldSay(stock *Engine, req *Request, a, fast Result) bool {
	if !slices.Equal(a.fired, fast.fired) || a.InboundScore != fast.InboundScore || a.Block != fast.Block ||
		a.Status != fast.Status || a.RuleID != fast.RuleID || len(a.Matches) != len(fast.Matches) {
		return false
	}
	seen := make([]bool, len(fast.Matches))
	for try := 0; try < 400; try++ {
		if try > 0 {
			a = stock.Inspect(req, nil)
		}
		all := len(a.Matches) == len(fast.Matches)
		for i := range fast.Matches {
			if i >= len(a.Matches) {
				return false
			}
			m, f := a.Matches[i], fast.Matches[i]
			if m.RuleID != f.RuleID || m.Severity != f.Severity || !slices.Equal(m.Tags, f.Tags) {
				return false
			}
			seen[i] = seen[i] || m.Variable == f.Variable && m.Data == f.Data && m.Msg == f.Msg
			all = all && seen[i]
		}
		if all {
			return true
		}
	}
	return false
}

// TestIdentityDefaultLevels proves the static plan (static.go) on the settings it changes
// most: at PL1 the `@lt 2` level switches and everything they skip are compiled out, at
// PL2 the `@lt 3` ones. The CRS regression requests (sent as they are: their X-CRS-Test
// header is an ordinary header here), the benign requests and the benign corpora go
// through a stock engine and the fast one, and the whole Result must be equal.
func TestIdentityDefaultLevels(t *testing.T) {
	levels := []int{1, 2}
	if raceEnabled {
		// Under the race detector Coraza is ~10x slower and each engine costs ~30 s to
		// compile: PL1 on the engines other tests share, sampled; the plain run does both.
		levels = levels[:1]
	}
	for _, pl := range levels {
		t.Run(fmt.Sprintf("PL%d", pl), func(t *testing.T) {
			step, corpusStep := 1, 4
			if pl == 2 {
				step, corpusStep = 4, 8
			}
			if raceEnabled || testing.Short() {
				step, corpusStep = step*40, corpusStep*40
			}
			reqs := identityRequests(t, step, corpusStep)
			fast, err := sharedEngine()
			stock, err2 := stockPL1()
			if pl != 1 {
				s := DefaultSettings()
				s.Paranoia = pl
				fast, err = NewEngine(s)
				s.Stock = true
				stock, err2 = NewEngine(s)
			}
			if err != nil || err2 != nil {
				t.Fatal(err, err2)
			}
			if fast.static == nil || fast.static.switches == 0 {
				t.Fatalf("PL%d: no static plan or no level switch compiled out", pl)
			}
			var diffs, declined, switchFired, orderOnly atomic.Int64
			inParallel(len(reqs), func(i int) {
				a, b := stock.Inspect(reqs[i], nil), fast.Inspect(reqs[i], nil)
				if slices.ContainsFunc(a.fired, func(id int) bool { return fast.static.danger[id] }) {
					declined.Add(1) // the plan watches these: fast ran the whole rule set
				}
				if slices.Contains(a.fired, fast.static.fired[0][len(fast.static.fired[0])-1]) {
					switchFired.Add(1)
				}
				same := sameResult(a, b)
				if !same && stockCouldSay(stock, reqs[i], a, b) {
					orderOnly.Add(1)
					same = true
				}
				if !same {
					if diffs.Add(1) <= 10 {
						t.Errorf("request %s %q body %q:\n stock %+v\n fast  %+v", reqs[i].Method, reqs[i].URI, reqs[i].Body, a, b)
					}
				}
			})
			t.Logf("PL%d: %d requests, Results identical on %d; %d rules compiled out (%d constant, %d level switches, %d skipped by them, %d never matching); "+
				"the last switch fired on %d; %d requests fell back to the full rule set (a rule that removes rules fired); "+
				"%d differed only in which of a rule's matched values came first, as the stock engine's own reruns do",
				pl, len(reqs), len(reqs)-int(diffs.Load()), len(fast.static.remove), fast.static.constants, fast.static.switches,
				fast.static.skipped, fast.static.never, switchFired.Load(), declined.Load(), orderOnly.Load())
			if switchFired.Load() == 0 {
				t.Error("no request fired the level switches: the test does not exercise the plan")
			}
		})
	}
}
