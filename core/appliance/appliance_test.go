package appliance

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"bulwark/core/config"
)

// running starts a on loopback and stops it when the test ends.
func running(t *testing.T, a *Appliance) (base string, client *http.Client, cancel func() error) {
	t.Helper()
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	var stopped bool
	var result error
	cancel = func() error {
		if !stopped {
			stop()
			result, stopped = <-done, true
		}
		return result
	}
	t.Cleanup(func() { cancel() })
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.Certs.CA().Pool()}}}
	return "https://" + a.Server.Addr().String(), client, cancel
}

var helmet8 = map[string]string{
	"Content-Security-Policy":           "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
	"Cross-Origin-Opener-Policy":        "same-origin",
	"Cross-Origin-Resource-Policy":      "same-origin",
	"Origin-Agent-Cluster":              "?1",
	"Referrer-Policy":                   "no-referrer",
	"Strict-Transport-Security":         "max-age=63072000; includeSubDomains",
	"X-Content-Type-Options":            "nosniff",
	"X-DNS-Prefetch-Control":            "off",
	"X-Download-Options":                "noopen",
	"X-Frame-Options":                   "SAMEORIGIN",
	"X-Permitted-Cross-Domain-Policies": "none",
	"X-XSS-Protection":                  "0",
}

// The demo page, a 404 and a strict route, fetched over real TLS with the appliance CA, all
// carry the headers of their profile.
func TestServesDemoWithHeaders(t *testing.T) {
	cfg := testConfig(t)
	cfg.Headers.Routes = []config.HeadersRoute{{Prefix: "/locked", Profile: "strict"}}
	logs := &syncBuffer{}
	a, err := New(cfg, WithLogOutput(logs))
	if err != nil {
		t.Fatal(err)
	}
	base, cl, _ := running(t, a)
	get := func(path string) (*http.Response, string) {
		res, err := cl.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	res, body := get("/")
	if res.StatusCode != 200 || !strings.Contains(body, "Bulwark is running") || res.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("GET /: %d %.80q", res.StatusCode, body)
	}
	for _, path := range []string{"/", "/missing"} {
		res, _ := get(path)
		for k, v := range helmet8 {
			if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if res.Header.Get("Permissions-Policy") == "" || res.Header.Get("Server") != "" || res.Header.Get("X-Powered-By") != "" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
	}
	res, body = get("/missing")
	if res.StatusCode != 404 || !strings.Contains(body, "Not found") {
		t.Fatalf("404 page: %d %q", res.StatusCode, body)
	}
	res, _ = get("/locked/x")
	if res.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("strict route: %v", res.Header)
	}
	if !strings.Contains(logs.String(), `"path":"/locked/x","status":404`) {
		t.Fatalf("no access line for /locked/x:\n%s", logs.String())
	}
}

// Stopping the appliance lets a request in flight finish, then closes the store.
func TestStopDrainsInFlight(t *testing.T) {
	a, err := New(testConfig(t), WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	a.Pipeline.Router = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "done")
	})
	base, cl, cancel := running(t, a)
	got := make(chan string, 1)
	go func() {
		res, err := cl.Get(base + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-entered
	if err := cancel(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if b := <-got; b != "done" {
		t.Fatalf("in-flight request got %q", b)
	}
	if err := a.Store.Reader().Ping(); err == nil {
		t.Fatal("store still open after stop")
	}
}

// A connection refused by the per-IP cap becomes an event in the SQLite store.
func TestConnCapRecordsEvent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.MaxConnsPerIP = 1
	a, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	running(t, a)
	addr := a.Server.Addr().String()
	held, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: a.Certs.CA().Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A burst of refused connections is one event, not one per connection.
	for i := 0; i < 5; i++ {
		if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: a.Certs.CA().Pool(), ServerName: "127.0.0.1"}); err == nil {
			c.Close()
			t.Fatal("second connection accepted with max_conns_per_ip = 1")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var n int
	for {
		err := a.Store.Reader().QueryRow(`SELECT count(*) FROM events WHERE rule = 'server.max_conns_per_ip' AND ip = '127.0.0.1' AND kind = 'rate_limit'`).Scan(&n)
		if err == nil && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event stored: n=%d err=%v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // more than the writer's flush interval
	a.Store.Reader().QueryRow(`SELECT count(*) FROM events WHERE rule = 'server.max_conns_per_ip'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d events for one burst of refusals, want 1", n)
	}
}
