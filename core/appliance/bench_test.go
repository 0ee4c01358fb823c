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
func BenchmarkHardenedVsBare(b *testing.B) {
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
	bare := &http.Server{Handler: static, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	go bare.ServeTLS(bl, "", "")
	defer bare.Close()

	const workers = 8
	mk := func() []*http.Client {
		var cs []*http.Client
		for range workers {
			cs = append(cs, &http.Client{Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: a.Certs.CA().Pool()},
				MaxIdleConnsPerHost: 1,
				ForceAttemptHTTP2:   false,
				TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 keep-alive
			}})
		}
		return cs
	}
	hardClients, bareClients := mk(), mk()
	hardURL := "https://" + a.Server.Addr().String() + "/"
	bareURL := "https://" + bl.Addr().String() + "/"
	load(b, hardClients, hardURL, workers*4) // warm up: handshakes and idle connections
	load(b, bareClients, bareURL, workers*4)

	var hardT, bareT time.Duration
	var n int
	for b.Loop() {
		const round = 200
		bareT += load(b, bareClients, bareURL, round)
		hardT += load(b, hardClients, hardURL, round)
		n += round
	}
	bareRPS := float64(n) / bareT.Seconds()
	hardRPS := float64(n) / hardT.Seconds()
	b.ReportMetric(bareRPS, "bare-req/s")
	b.ReportMetric(hardRPS, "hardened-req/s")
	b.ReportMetric(hardRPS/bareRPS, "ratio")
}
