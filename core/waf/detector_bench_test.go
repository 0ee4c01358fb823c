package waf

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"bulwark/core/config"
	"bulwark/core/event"
)

// benchDetector measures the WAF stage on req with and without the second detector (same
// fast engine, same run, interleaved in rounds so machine load hits both alike), and the
// detector's own work (reading the parameters and checking them) on its own; it reports CPU
// µs per request of each and the detector's share of the CRS-only stage.
func benchDetector(b *testing.B, req *Request) {
	e := benchEngine(b, false)
	stage := func(crsOnly bool) http.Handler {
		w := &WAF{sink: event.Discard, appOf: func(*http.Request) string { return "" }, crsOnly: crsOnly}
		w.engine.Store(e)
		p := PolicyFrom(config.Default().WAF)
		w.policy.Store(&p)
		return w.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(200) }))
	}
	with, without := stage(false), stage(true)
	run := func(h http.Handler, n int) float64 {
		c0 := cpuTime()
		for i := 0; i < n; i++ {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httpRequest(req))
			if rec.Code != 200 {
				b.Fatalf("benign request refused: %d", rec.Code)
			}
		}
		return float64(cpuTime()-c0) / 1e3
	}
	run(with, 1)
	run(without, 1)
	var tw, to float64
	rounds := 5
	per := max(b.N/rounds, 1)
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		tw += run(with, per)
		to += run(without, per)
	}
	n := float64(per * rounds)
	// the detector's own work, measured directly: the difference of two stage timings is
	// within the noise of a shared machine
	hr := httpRequest(req)
	c0 := cpuTime()
	for i := 0; i < per*rounds; i++ {
		if len(detectArgs(argsOf(hr, req), nil)) != 0 {
			b.Fatal("benign request flagged")
		}
	}
	own := float64(cpuTime()-c0) / 1e3 / n
	b.ReportMetric(tw/n, "with-detector-cpu-µs/req")
	b.ReportMetric(to/n, "crs-only-cpu-µs/req")
	b.ReportMetric(own, "detector-cpu-µs/req")
	b.ReportMetric(own/(to/n)*100, "detector-%-of-crs")
}

// BenchmarkDetectorBenignGET and BenchmarkDetectorBenignPOST: the second detector's cost on
// the benign GET and 2 KB form POST of BenchmarkWAFBenign*, CRS-only stage as the baseline.
// Run: go test -run '^$' -bench Detector -benchtime 400x ./core/waf
func BenchmarkDetectorBenignGET(b *testing.B)  { benchDetector(b, benignGET()) }
func BenchmarkDetectorBenignPOST(b *testing.B) { benchDetector(b, benignPOST()) }
