package server

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkStages reports what the server's own stages (request record, JSON access log,
// body cap) add to one request in process, against the bare handler in the same run.
func BenchmarkStages(b *testing.B) {
	body := []byte("ok")
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	staged := RequestInfo(AccessLog(log)(BodyLimit(1 << 20)(final)))
	req, _ := http.NewRequest("GET", "https://example.test/index.html", nil)
	req.RemoteAddr = "192.0.2.1:4321"
	w := &nopWriter{}
	var bareT, stagedT time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range 64 {
			w.h = make(http.Header, 4)
			final.ServeHTTP(w, req)
		}
		t1 := time.Now()
		for range 64 {
			w.h = make(http.Header, 4)
			staged.ServeHTTP(w, req)
		}
		bareT += t1.Sub(t0)
		stagedT += time.Since(t1)
	}
	n := float64(b.N * 64)
	b.ReportMetric(float64(bareT)/n, "bare-ns/req")
	b.ReportMetric(float64(stagedT)/n, "staged-ns/req")
	b.ReportMetric(float64(stagedT-bareT)/n, "cost-ns/req")
}
