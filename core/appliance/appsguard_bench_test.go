package appliance

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"bulwark/core/sandbox/sandboxtest"
)

// BenchmarkAppAwareDefenses measures what making the defenses app-aware costs per request:
// the same pipeline (request record, headers, access lists, rate limits, CSRF, cookie
// hardening, token injection) in front of the same static handler, (a) with the apps
// manager bound (route lookup before the defenses, manifest security per stage; the app
// overrides headers and exempts a cookie) and (b) unbound. Same run, alternating rounds;
// it reports ns per request of both and the ratio bound/unbound.
func BenchmarkAppAwareDefenses(b *testing.B) {
	build := func(bind bool) http.Handler {
		cfg := testConfig(b)
		exe, _ := sandboxtest.Worker(b)
		cfg.Sandbox.WorkerBinary = exe
		cfg.Sandbox.DemoApp = false
		cfg.Guard.RateLimit.PerIP, cfg.Guard.RateLimit.PerApp = 0, 0
		a, err := New(cfg, WithLogOutput(io.Discard))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		d, err := a.UseGuard(GuardOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if bind {
			m, err := a.UseApps(context.Background(), d.Capabilities())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(m.Close)
			if _, err := m.Deploy(context.Background(), writeApp(b, "shop", `{"exempt_cookies": ["tracker"], "headers": "strict"}`)); err != nil {
				b.Fatal(err)
			}
			d.BindApps(m)
		}
		a.Pipeline.Router = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Add("Set-Cookie", "tracker=1; Path=/")
			w.Write(staticPage)
		})
		return a.Pipeline.Handler()
	}
	bound, unbound := build(true), build(false)
	run := func(h http.Handler, n int) time.Duration {
		t0 := time.Now()
		for range n {
			r := httptest.NewRequest("GET", "https://127.0.0.1/shop/page", nil)
			r.RemoteAddr = "127.0.0.1:1234"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
		return time.Since(t0)
	}
	var tb, tu time.Duration
	b.ResetTimer()
	for left := b.N; left > 0; {
		n := min(left, 1000)
		tu += run(unbound, n)
		tb += run(bound, n)
		left -= n
	}
	b.ReportMetric(float64(tb.Nanoseconds())/float64(b.N), "bound-ns/req")
	b.ReportMetric(float64(tu.Nanoseconds())/float64(b.N), "unbound-ns/req")
	b.ReportMetric(float64(tb)/float64(tu), "ratio")
}
