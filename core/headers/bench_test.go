package headers

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"
)

// nopWriter is the cheapest possible ResponseWriter so the benchmark measures the headers
// stage, not a recorder. Its header map is reset per response like net/http's.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkHeaders reports what the headers stage adds to one response, against the same
// handler without it in the same run.
func BenchmarkHeaders(b *testing.B) {
	s, err := New(Config{Profile: Default, Routes: map[string]string{"/admin": Strict}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("ok")
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	req, _ := http.NewRequest("GET", "https://example.test/index.html", nil)
	req.TLS = &tls.ConnectionState{}
	bare, with := final, s.Middleware(final)
	w := &nopWriter{}
	var bareNs, withNs time.Duration
	b.ReportAllocs()
	for b.Loop() {
		// Alternate the two in small rounds so both see the same machine load.
		t0 := time.Now()
		for range 64 {
			w.h = make(http.Header, 16)
			bare.ServeHTTP(w, req)
		}
		t1 := time.Now()
		for range 64 {
			w.h = make(http.Header, 16)
			with.ServeHTTP(w, req)
		}
		bareNs += t1.Sub(t0)
		withNs += time.Since(t1)
	}
	n := float64(b.N * 64)
	b.ReportMetric(float64(bareNs)/n, "bare-ns/resp")
	b.ReportMetric(float64(withNs)/n, "headers-ns/resp")
	b.ReportMetric(float64(withNs-bareNs)/n, "cost-ns/resp")
}
