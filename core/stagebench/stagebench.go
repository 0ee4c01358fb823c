// Package stagebench measures what one HTTP middleware stage adds to a request, in process,
// against the bare handler in the same run: the two are timed in alternating rounds of 64
// requests so both see the same machine load. It is for benchmarks only.
package stagebench

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// nopWriter is the cheapest possible ResponseWriter, so the figure is the stage's and not a
// recorder's. Its header map is fresh per response, like net/http's.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// Compare serves req through bare and staged for b's loop and reports, per request, the bare
// time, the staged time (metric "<name>-ns/<unit>") and the difference ("cost-ns/<unit>").
// headers sizes each response's fresh header map.
func Compare(b *testing.B, bare, staged http.Handler, req *http.Request, headers int, name, unit string) {
	w := &nopWriter{}
	var bareT, stagedT time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range 64 {
			w.h = make(http.Header, headers)
			bare.ServeHTTP(w, req)
		}
		t1 := time.Now()
		for range 64 {
			w.h = make(http.Header, headers)
			staged.ServeHTTP(w, req)
		}
		bareT += t1.Sub(t0)
		stagedT += time.Since(t1)
	}
	n := float64(b.N * 64)
	b.ReportMetric(float64(bareT)/n, "bare-ns/"+unit)
	b.ReportMetric(float64(stagedT)/n, name+"-ns/"+unit)
	b.ReportMetric(float64(stagedT-bareT)/n, "cost-ns/"+unit)
}

// ProcessCPU is this process's user+system CPU time, all threads. On a machine shared with
// other jobs wall time per operation swings with their load; CPU time shows what it costs.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
