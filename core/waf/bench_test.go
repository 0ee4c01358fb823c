package waf

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"bulwark/core/config"
	"bulwark/core/event"
)

// cpuTime is the process's user+system CPU time: on a shared machine wall time per op
// says more about the neighbours than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benignGET() *Request {
	return &Request{RemoteAddr: "192.0.2.10:51234", Method: "GET", URI: "/shop/products/42?page=2&sort=price&category=garden-tools", Proto: "HTTP/1.1", Host: "shop.example.com",
		Headers: [][2]string{
			{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
			{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
			{"Accept-Language", "en-US,en;q=0.9"},
			{"Accept-Encoding", "gzip, deflate, br"},
			{"Cookie", "session=3f9a1c7be2d84e0f9a1c7be2d84e0f9a; theme=dark"},
			{"Referer", "https://shop.example.com/shop/products?page=1"},
		}}
}

func benignPOST() *Request {
	r := benignGET()
	r.Method = "POST"
	r.URI = "/account/profile"
	var b strings.Builder
	b.WriteString("name=Jane+Doe&email=jane.doe%40example.com&phone=%2B1+555+0100&city=Springfield&country=US&newsletter=on&bio=")
	prose := "Our community garden meets every Saturday morning. We grow tomatoes, beans and herbs in raised beds, and we welcome new members who would like to learn about composting and water conservation. "
	for b.Len() < 2000 {
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(prose, " ", "+"), ",", "%2C"))
	}
	body := b.String()[:2048]
	r.Body = []byte(body)
	r.Headers = append(r.Headers, [2]string{"Content-Type", "application/x-www-form-urlencoded"}, [2]string{"Content-Length", "2048"})
	return r
}

// httpRequest turns a benchmark request into an *http.Request for the middleware.
func httpRequest(r *Request) *http.Request {
	hr := httptest.NewRequest(r.Method, r.URI, bytes.NewReader(r.Body))
	hr.Host = r.Host
	hr.RemoteAddr = r.RemoteAddr
	for _, h := range r.Headers {
		hr.Header.Add(h[0], h[1])
	}
	return hr
}

var benchEngines = map[bool]*Engine{}

func benchEngine(b *testing.B, stock bool) *Engine {
	if e := benchEngines[stock]; e != nil {
		return e
	}
	s := DefaultSettings()
	s.Stock = stock
	e, err := NewEngine(s)
	if err != nil {
		b.Fatal(err)
	}
	benchEngines[stock] = e
	return e
}

// cpuPerRequest runs req through the WAF stage b.N times and returns CPU µs per request.
func cpuPerRequest(b *testing.B, e *Engine, req *Request, n int) float64 {
	w := &WAF{sink: event.Discard, appOf: func(*http.Request) string { return "" }}
	w.engine.Store(e)
	p := PolicyFrom(config.Default().WAF)
	w.policy.Store(&p)
	passed := 0
	h := w.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed++ }))
	h.ServeHTTP(httptest.NewRecorder(), httpRequest(req)) // the fast path's plan is built once
	passed = 0
	c0 := cpuTime()
	for i := 0; i < n; i++ {
		h.ServeHTTP(httptest.NewRecorder(), httpRequest(req))
	}
	if passed != n {
		b.Fatalf("benign request blocked (%d of %d passed)", passed, n)
	}
	return float64(cpuTime()-c0) / 1e3 / float64(n)
}

// benchStockVsFast measures the stock engine and the fast one in the same run and reports
// both and the ratio. ns/op is the fast path's wall time.
func benchStockVsFast(b *testing.B, req *Request) {
	stock, fast := benchEngine(b, true), benchEngine(b, false)
	n := 20 // the stock baseline: enough requests for a stable figure, few enough to be quick
	base := cpuPerRequest(b, stock, req, n)
	b.ResetTimer()
	mine := cpuPerRequest(b, fast, req, b.N)
	b.StopTimer()
	b.ReportMetric(base, "stock-cpu-µs/op")
	b.ReportMetric(mine, "cpu-µs/op")
	b.ReportMetric(base/mine, "x-less-cpu")
}

func BenchmarkWAFBenignGET(b *testing.B)  { benchStockVsFast(b, benignGET()) }
func BenchmarkWAFBenignPOST(b *testing.B) { benchStockVsFast(b, benignPOST()) }

// BenchmarkWAFBookkeeping measures what compiling out the bookkeeping fixed by the settings
// saves on the benign GET (static.go): Inspect on the fast engine as it runs, and on the
// same engine's full rule set as it ran before (level rules removed per transaction,
// setup rules and level switches run by Coraza), in interleaved rounds of the same run;
// medians of the rounds' wall time per request, since process CPU would charge one path's
// garbage to the other.
func BenchmarkWAFBookkeeping(b *testing.B) {
	e := benchEngine(b, false)
	if e.static == nil {
		b.Fatal("no static plan on the default engine")
	}
	req := benignGET()
	if a, c := e.inspectFull(req, nil), e.Inspect(req, nil); !sameResult(a, c) {
		b.Fatalf("results differ:\n full %+v\n static %+v", a, c)
	}
	var base, mine []float64
	round := func(inspect func(*Request, []txExclusion) Result, n int) float64 {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			inspect(req, nil)
		}
		return float64(time.Since(t0).Nanoseconds()) / 1e3 / float64(n)
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(b.N-done, 50)
		base = append(base, round(e.inspectFull, n))
		mine = append(mine, round(e.Inspect, n))
		done += n
	}
	b.StopTimer()
	slices.Sort(base)
	slices.Sort(mine)
	b.ReportMetric(base[len(base)/2], "before-µs/op")
	b.ReportMetric(mine[len(mine)/2], "µs/op")
	b.ReportMetric(base[len(base)/2]-mine[len(mine)/2], "saved-µs/op")
	b.ReportMetric(base[len(base)/2]/mine[len(mine)/2], "x-faster")
	b.ReportMetric(float64(len(e.static.remove)), "rules-compiled-out")
}
