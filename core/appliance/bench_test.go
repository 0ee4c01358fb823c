package appliance

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bulwark/core/stagebench"
)

// staticPage is the response both servers give: a small static page, as a demo site serves.
var staticPage = []byte("<!doctype html><title>static</title><p>" + "hello from a static page</p>\n")

var static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(staticPage)
})

// load sends n requests to url from workers keep-alive clients and returns the elapsed time.
func load(b *testing.B, clients []*http.Client, url string, n int) time.Duration {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				res, err := cl.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkHardenedVsBare serves the same static handler over real TLS on loopback through
// (a) the full hardened front: per-IP cap, Mozilla TLS, timeouts, request record, JSON access
// log, body cap and security headers, and (b) a bare net/http TLS server, in the same run
// with the same keep-alive clients, alternating rounds so both see the same machine load.
// It reports requests per second for both and their ratio (target ≥ 0.7).
//
// Sub-benchmarks: HTTP/1.1 and HTTP/2 keep-alive; and HTTP/1.1 where the bare server's handler
// also sends the default profile's headers, which separates the cost of the hardened
// machinery from the cost of putting a dozen more headers on every response.
func BenchmarkHardenedVsBare(b *testing.B) {
	b.Run("http1", func(b *testing.B) { hardenedVsBare(b, false, false) })
	b.Run("http2", func(b *testing.B) { hardenedVsBare(b, true, false) })
	b.Run("http1-bare-sends-same-headers", func(b *testing.B) { hardenedVsBare(b, false, true) })
}

func hardenedVsBare(b *testing.B, h2, bareHeaders bool) {
	cfg := testConfig(b)
	cfg.Server.MaxConnsPerIP = 1024
	a, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	a.Pipeline.Router = static
	if err := a.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.Data, "server.pem"), filepath.Join(cfg.Data, "server.key"))
	if err != nil {
		b.Fatal(err)
	}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var bareHandler http.Handler = static
	if bareHeaders {
		h := a.Headers.Profile("default").Header()
		bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			wh := w.Header()
			for k, v := range h {
				wh[k] = v
			}
			static(w, r)
		})
	}
	bare := &http.Server{Handler: bareHandler, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	go bare.ServeTLS(bl, "", "")
	defer bare.Close()

	const workers = 8
	mk := func() []*http.Client {
		var cs []*http.Client
		for range workers {
			tr := &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: a.Certs.CA().Pool()},
				MaxIdleConnsPerHost: 1,
				ForceAttemptHTTP2:   h2,
			}
			if !h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 keep-alive
			}
			cs = append(cs, &http.Client{Transport: tr})
		}
		return cs
	}
	hardClients, bareClients := mk(), mk()
	hardURL := "https://" + a.Server.Addr().String() + "/"
	bareURL := "https://" + bl.Addr().String() + "/"
	load(b, hardClients, hardURL, workers*4) // warm up: handshakes and idle connections
	load(b, bareClients, bareURL, workers*4)

	var hardT, bareT, hardCPU, bareCPU time.Duration
	var n int
	phase := func(clients []*http.Client, url string, wall, cpu *time.Duration) {
		c0 := stagebench.ProcessCPU()
		*wall += load(b, clients, url, 200)
		*cpu += stagebench.ProcessCPU() - c0
	}
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first: on a shared machine the second of two back-to-back
		// phases is systematically slower, which would bias the ratio.
		if i%2 == 0 {
			phase(bareClients, bareURL, &bareT, &bareCPU)
			phase(hardClients, hardURL, &hardT, &hardCPU)
		} else {
			phase(hardClients, hardURL, &hardT, &hardCPU)
			phase(bareClients, bareURL, &bareT, &bareCPU)
		}
		n += 200
	}
	bareRPS := float64(n) / bareT.Seconds()
	hardRPS := float64(n) / hardT.Seconds()
	b.ReportMetric(bareRPS, "bare-req/s")
	b.ReportMetric(hardRPS, "hardened-req/s")
	b.ReportMetric(hardRPS/bareRPS, "ratio")
	// CPU time of this process (clients and server) per request: less disturbed by other
	// processes than wall time on a shared machine. cpu-ratio = bare CPU / hardened CPU, the
	// throughput ratio when the machine is CPU bound.
	b.ReportMetric(float64(bareCPU.Microseconds())/float64(n), "bare-cpu-us/req")
	b.ReportMetric(float64(hardCPU.Microseconds())/float64(n), "hardened-cpu-us/req")
	b.ReportMetric(float64(bareCPU)/float64(hardCPU), "cpu-ratio")
}
