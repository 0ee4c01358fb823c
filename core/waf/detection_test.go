package waf

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/verdict"
)

type corpus struct {
	name   string
	files  []string // relative to shared/corpora; a directory means every file in it
	attack bool
	min    float64 // the target. attacks: minimum blocked share; benign: maximum
	// guard is what the test asserts where the defaults miss the target: the measured
	// figure less a small margin, so a regression fails while the table says honestly that
	// the target is missed. 0 = the target itself is asserted.
	guard float64
}

// The table also reports the even and odd lines of each corpus apart: the second detector
// (package detect) was developed looking at the even lines only, so the odd half is data
// it has not been tuned on.

var detectionCorpora = []corpus{
	{"libinjection SQLi", []string{"sqli/libinjection"}, true, 0.99, 0},
	{"libinjection XSS", []string{"xss/libinjection"}, true, 0.99, 0},
	{"PayloadsAllTheThings XSS intruders", []string{"xss/payloadsallthethings"}, true, 0.95, 0},
	{"PayloadsAllTheThings SQLi intruders", []string{"sqli/payloadsallthethings"}, true, 0.95, 0},
	{"PayloadsAllTheThings traversal", []string{"traversal/payloadsallthethings/directory_traversal.txt",
		"traversal/payloadsallthethings/deep_traversal.txt", "traversal/payloadsallthethings/JHADDIX_LFI.txt",
		"traversal/payloadsallthethings/dotdotpwn.txt"}, true, 0.95, 0},
	{"benign license prose", []string{"benign/benign_license_prose.txt"}, false, 0.005, 0},
	{"libinjection false positives", []string{"benign/libinjection_false_positives.txt"}, false, 0.05, 0},
}

// readPayloads reads one payload per line, skipping blanks, '#' comments and license files,
// deduplicated. Traversal lists carry a {FILE} placeholder.
func readPayloads(t testing.TB, root string, c corpus) []string {
	t.Helper()
	var files []string
	for _, f := range c.files {
		p := filepath.Join(root, f)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if e.IsDir() || e.Name() == "LICENSE" || e.Name() == "COPYING" {
				continue
			}
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
				continue
			}
			l = strings.ReplaceAll(l, "{FILE}", "etc/passwd")
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
		fh.Close()
	}
	return out
}

// TestDetectionTable sends the shared corpora as a query parameter and as a form body
// through the WAF stage in block mode at the default settings, and prints the table.
// The bulk goes in-process through the middleware (the same handler the HTTPS front runs);
// every 50th payload also goes over real HTTPS on loopback, and both paths must agree.
// Under -race every 101st payload is sent and under -short every 7th (deterministic
// samples); the plain `go test ./core/waf` run sends every payload.
func TestDetectionTable(t *testing.T) {
	root := corpora(t)
	w := newTestWAF(t, config.Default().WAF, event.Discard, nil)
	app := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(200) })
	h := w.Middleware(app)
	srv, client := tlsFront(t, w)
	step := 1
	switch {
	case raceEnabled:
		step = 101 // the race detector makes Coraza ~10x slower; the plain run sends everything (odd: both halves sampled)
	case testing.Short():
		step = 7
	}

	send := func(method, target, body string) int {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Host = testHost
		r.RemoteAddr = "192.0.2.7:40000"
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bulwark-test")
		r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		if body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r, _ = verdict.New(r)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}

	var table strings.Builder
	fmt.Fprintf(&table, "\nblock mode, CRS v4.25.0 at PL1, inbound threshold 5, with the second detector (shares blocked)\n%-38s %7s %9s %9s %9s %9s %9s  %s\n", "corpus", "sent", "query", "form", "even q", "odd q", "target", "")
	var failures []string
	for _, c := range detectionCorpora {
		all := readPayloads(t, root, c)
		var ps []string
		var idx []int // each sent payload's index in the corpus
		for i := 0; i < len(all); i += step {
			ps = append(ps, all[i])
			idx = append(idx, i)
		}
		var nHalf [2]float64
		for _, i := range idx {
			nHalf[i%2]++
		}
		var qBlocked, fBlocked, mismatch atomic.Int64
		var half [2]atomic.Int64 // query blocked, by the payload's line parity in the corpus
		var missMu sync.Mutex
		var misses []string
		next := make(chan int)
		var wg sync.WaitGroup
		for k := 0; k < runtime.GOMAXPROCS(0); k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					p := ps[i]
					target := "/search?q=" + url.QueryEscape(p)
					body := "q=" + url.QueryEscape(p)
					qc := send("GET", target, "")
					fc := send("POST", "/search", body)
					if qc == 403 {
						qBlocked.Add(1)
						half[idx[i]%2].Add(1)
					}
					if fc == 403 {
						fBlocked.Add(1)
					}
					if (qc == 403) != c.attack || (fc == 403) != c.attack {
						missMu.Lock()
						misses = append(misses, p)
						missMu.Unlock()
					}
					if i%50 == 0 { // the same over the real HTTPS front
						if code, _ := do(t, client, "GET", srv.URL+target, "", ""); code != qc {
							mismatch.Add(1)
						}
						if code, _ := do(t, client, "POST", srv.URL+"/search", "application/x-www-form-urlencoded", body); code != fc {
							mismatch.Add(1)
						}
					}
				}
			}()
		}
		for i := range ps {
			next <- i
		}
		close(next)
		wg.Wait()
		n := float64(len(ps))
		q, f := float64(qBlocked.Load())/n, float64(fBlocked.Load())/n
		req := fmt.Sprintf("≥ %.1f%%", c.min*100)
		if !c.attack {
			req = fmt.Sprintf("≤ %.1f%%", c.min*100)
		}
		if mismatch.Load() > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d verdicts differ between in-process and HTTPS", c.name, mismatch.Load()))
		}
		met := (c.attack && q >= c.min && f >= c.min) || (!c.attack && q <= c.min && f <= c.min)
		limit := c.min
		if c.guard != 0 {
			limit = c.guard
		}
		status := "met"
		if !met {
			status = "MISSED"
		}
		even, odd := float64(half[0].Load())/max(nHalf[0], 1), float64(half[1].Load())/max(nHalf[1], 1)
		fmt.Fprintf(&table, "%-38s %7d %8.2f%% %8.2f%% %8.2f%% %8.2f%% %9s  %s\n", c.name, len(ps), q*100, f*100, even*100, odd*100, req, status)
		if raceEnabled {
			// a 1-in-100 sample of a few hundred lines cannot carry the thresholds; under the
			// race detector only gross failures are asserted (the plain run asserts them all)
			limit = 0.5
			if !c.attack {
				limit = 0.25
			}
		}
		bad := (c.attack && (q < limit || f < limit)) || (!c.attack && (q > limit || f > limit))
		if bad {
			sort.Strings(misses)
			if len(misses) > 15 {
				misses = misses[:15]
			}
			failures = append(failures, fmt.Sprintf("%s: query %.2f%%, form %.2f%%, asserted limit %.2f%%; e.g. %q", c.name, q*100, f*100, limit*100, misses))
		}
	}
	t.Log(table.String())
	for _, f := range failures {
		t.Error(f)
	}
}
