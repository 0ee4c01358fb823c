package apps_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bulwark/core/apps"
	"bulwark/core/manifest"
	"bulwark/core/stagebench"
)

// load runs conc keep-alive HTTPS clients against srv for d and returns req/s and latencies.
func load(tb testing.TB, srv *httptest.Server, host string, conc int, d time.Duration) (float64, []time.Duration) {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc
	tr.ForceAttemptHTTP2 = false
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	c := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	t0 := time.Now()
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("GET", srv.URL+"/", nil)
				req.Host = host
				s := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					tb.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					tb.Errorf("status %d", resp.StatusCode)
					return
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / time.Since(t0).Seconds(), lat
}

// BenchmarkHTTPSHelloApp compares a hello-world app served through the router and a sandbox
// worker with the same answer from a plain Go handler behind the same TLS server, over
// HTTPS keep-alive with 16 clients, and reports both rates, their ratio and the app's p50/p99.
func BenchmarkHTTPSHelloApp(b *testing.B) {
	e := newEnv(b, apps.Capabilities{})
	ctx := context.Background()
	dir := appCopy(b, "hello", "", "")
	if _, err := e.m.Deploy(ctx, dir); err != nil {
		b.Fatal(err)
	}
	if err := e.m.SetLimits(ctx, "hello", manifest.Limits{Workers: 2, Concurrency: 16}); err != nil {
		b.Fatal(err)
	}
	plain := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-version", "v1")
		w.Write([]byte("v1 " + r.URL.Path))
	}))
	plain.StartTLS()
	defer plain.Close()
	d := time.Duration(b.N) * 200 * time.Millisecond
	d = min(max(d, time.Second), 5*time.Second)
	load(b, e.srv, "hello.test", 16, 300*time.Millisecond) // warm
	b.ResetTimer()
	s0 := stagebench.ProcessCPU()
	base, _ := load(b, plain, "hello.test", 16, d)
	s1, w1 := stagebench.ProcessCPU(), childrenCPU()
	app, lat := load(b, e.srv, "hello.test", 16, d)
	s2, w2 := stagebench.ProcessCPU(), childrenCPU()
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatal("no requests")
	}
	b.ReportMetric(app, "app-req/s")
	b.ReportMetric(base, "plain-go-req/s")
	b.ReportMetric(app/base, "ratio")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "app-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "app-p99-µs")
	// Where the CPU goes, per request: this process (TLS clients and server, router,
	// supervisor) in each phase, and the worker processes in the app phase.
	us := func(d time.Duration, rate float64, phase time.Duration) float64 {
		return float64(d) / float64(time.Microsecond) / (rate * phase.Seconds())
	}
	b.ReportMetric(us(s1-s0, base, d), "plain-proc-cpu-µs/req")
	b.ReportMetric(us(s2-s1, app, d), "app-proc-cpu-µs/req")
	b.ReportMetric(us(w2-w1, app, d), "worker-cpu-µs/req")
}

// childrenCPU sums the user+system CPU of this process's live children (the workers), read
// from /proc in clock ticks of 10 ms.
func childrenCPU() time.Duration {
	var total time.Duration
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 || f[1] != self {
			continue
		}
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// BenchmarkDeployServing measures a deploy of the hello app (bundle, store, start, health
// check, switch) until it serves; the target is 1 s.
func BenchmarkDeployServing(b *testing.B) {
	e := newEnv(b, apps.Capabilities{})
	var total time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := e.m.Deploy(context.Background(), "testdata/hello"); err != nil {
			b.Fatal(err)
		}
		if code, _ := e.get("hello.test", "/"); code != 200 {
			b.Fatalf("status %d", code)
		}
		total += time.Since(t0)
	}
	ms := float64(total.Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "deploy-to-serving-ms")
	b.ReportMetric(ms/1000, "ratio-to-1s-target")
}
