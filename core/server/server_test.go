package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/pki"
	"bulwark/core/verdict"
)

// testCert creates a CA and a server certificate for the loopback names in a temp folder.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.EnsureServerCert(filepath.Join(dir, "s.pem"), filepath.Join(dir, "s.key"), []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pair, ca.Pool()
}

type testServer struct {
	*Server
	pool    *x509.CertPool
	cancel  context.CancelFunc
	done    chan error
	log     *syncBuffer
	rejects atomic.Int64
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start serves h (wrapped like the appliance's pipeline start: request info, access log,
// body cap) on loopback ports with cfg adjusted by mod.
func start(t testing.TB, mod func(*config.Server), h http.Handler) *testServer {
	t.Helper()
	cfg := config.Default().Server
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	pair, pool := testCert(t)
	ts := &testServer{pool: pool, done: make(chan error, 1), log: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(ts.log, nil))
	public := RequestInfo(AccessLog(log)(BodyLimit(cfg.MaxBodyBytes)(h)))
	ts.Server = New(Options{
		Config:   cfg,
		TLS:      TLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }),
		Public:   public,
		Log:      log,
		OnReject: func(string, string) { ts.rejects.Add(1) },
	})
	if err := ts.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- ts.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ts
}

func (ts *testServer) dial(t testing.TB) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.Addr().String(),
		&tls.Config{RootCAs: ts.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (ts *testServer) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ts.pool}, ForceAttemptHTTP2: true,
	}}
}

func (ts *testServer) url(path string) string { return "https://" + ts.Addr().String() + path }

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

func TestServesOverTLS(t *testing.T) {
	ts := start(t, nil, hello)
	res, err := ts.client().Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "hello" || res.ProtoMajor != 2 {
		t.Fatalf("got %d %q over %s", res.StatusCode, b, res.Proto)
	}
	if res.Header.Get("X-Request-Id") == "" || res.Header.Get("Server") != "" {
		t.Fatalf("headers: %v", res.Header)
	}
}

// Clients configured for TLS 1.0, 1.1 or CBC suites are refused; modern clients get TLS 1.3
// with the ML-KEM hybrid, or TLS 1.2 with an ECDHE AEAD suite.
func TestTLSPolicy(t *testing.T) {
	ts := start(t, nil, hello)
	dial := func(c *tls.Config) (tls.ConnectionState, error) {
		c.RootCAs, c.ServerName = ts.pool, "127.0.0.1"
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.Addr().String(), c)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	refused := map[string]*tls.Config{
		"TLS 1.0": {MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10},
		"TLS 1.1": {MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11},
		"TLS 1.2 CBC": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		}},
		"TLS 1.2 RSA key exchange": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		}},
	}
	for name, c := range refused {
		if st, err := dial(c); err == nil {
			t.Errorf("%s: accepted (version %x, suite %s)", name, st.Version, tls.CipherSuiteName(st.CipherSuite))
		}
	}
	st, err := dial(&tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 {
		t.Errorf("default client: version %x, group %s; want TLS 1.3 with X25519MLKEM768", st.Version, st.CurveID)
	}
	for _, suite := range tls12Suites {
		st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if strings.Contains(tls.CipherSuiteName(suite), "_RSA_WITH") {
			continue // the test certificate is ECDSA; RSA-authenticated suites need an RSA certificate
		}
		if err != nil || st.CipherSuite != suite {
			t.Errorf("TLS 1.2 %s refused: %v", tls.CipherSuiteName(suite), err)
		}
	}
}

// A slowloris client sends its headers one byte at a time; the server hangs up at
// read_header_timeout.
func TestSlowHeadersAreCut(t *testing.T) {
	ts := start(t, func(c *config.Server) { c.ReadHeaderTimeout = config.Duration(300 * time.Millisecond) }, hello)
	c := ts.dial(t)
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, c)
		closed <- time.Since(start)
	}()
	for i := 0; i < 100; i++ {
		select {
		case d := <-closed:
			if d < 250*time.Millisecond {
				t.Fatalf("closed after %s, before the timeout", d)
			}
			return
		case <-time.After(100 * time.Millisecond):
			c.Write([]byte("X"))
		}
	}
	t.Fatal("connection still open after 10s of slow headers")
}

// A client that sends its body slowly is cut at read_timeout: the handler's read fails.
func TestSlowBodyIsCut(t *testing.T) {
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	ts := start(t, func(c *config.Server) { c.ReadTimeout = config.Duration(500 * time.Millisecond) }, h)
	c := ts.dial(t)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 100; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-readErr:
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("handler read err = %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow body still being read after 5s")
	}
}

// A client that never reads its response is cut at write_timeout: the handler's write fails
// instead of holding the connection forever.
func TestSlowReaderIsCut(t *testing.T) {
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for i := 0; i < 4096; i++ { // 128 MiB, far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	ts := start(t, func(c *config.Server) { c.WriteTimeout = config.Duration(500 * time.Millisecond) }, h)
	c := ts.dial(t)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("128 MiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler still writing after 10s")
	}
}

// An idle keep-alive connection is closed at idle_timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	ts := start(t, func(c *config.Server) { c.IdleTimeout = config.Duration(300 * time.Millisecond) }, hello)
	c := ts.dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	idleFrom := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = br.ReadByte()
	if d := time.Since(idleFrom); err == nil || d > 4*time.Second {
		t.Fatalf("idle connection: err %v after %s, want closed near 300ms", err, d)
	}
}

// Headers above max_header_bytes get 431.
func TestHugeHeadersGet431(t *testing.T) {
	ts := start(t, func(c *config.Server) { c.MaxHeaderBytes = 4096 }, hello)
	c := ts.dial(t)
	// net/http allows 4 KiB of slack above MaxHeaderBytes; send far more.
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", res.StatusCode)
	}
	// And a normal request still works on a new connection.
	if r2, err := ts.client().Get(ts.url("/")); err != nil || r2.StatusCode != 200 {
		t.Fatalf("normal request after 431: %v", err)
	}
}

// Bodies above max_body_bytes get 413, whether declared or chunked.
func TestBodyCap(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if TooLarge(err) {
			Error(w, r, http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	})
	ts := start(t, func(c *config.Server) { c.MaxBodyBytes = 1000 }, h)
	cl := ts.client()
	post := func(body io.Reader, n int64) (int, string) {
		req, _ := http.NewRequest("POST", ts.url("/"), body)
		req.ContentLength = n
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post(strings.NewReader(strings.Repeat("a", 1000)), 1000); code != 200 || body != "1000" {
		t.Fatalf("at the cap: %d %q", code, body)
	}
	if code, _ := post(strings.NewReader(strings.Repeat("a", 1001)), 1001); code != 413 {
		t.Fatalf("declared 1001 bytes: %d, want 413", code)
	}
	// Chunked (unknown length): the cap applies while reading.
	if code, body := post(io.MultiReader(strings.NewReader(strings.Repeat("a", 5000))), -1); code != 413 {
		t.Fatalf("chunked 5000 bytes: %d %q, want 413", code, body)
	}
}

// Connections beyond max_conns_per_ip from one address are closed at accept; when one
// closes, a new one is let in.
func TestPerIPConnectionCap(t *testing.T) {
	ts := start(t, func(c *config.Server) { c.MaxConnsPerIP = 3 }, hello)
	var held []*tls.Conn
	for i := 0; i < 3; i++ {
		held = append(held, ts.dial(t))
	}
	cfg := &tls.Config{RootCAs: ts.pool, ServerName: "127.0.0.1"}
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.Addr().String(), cfg); err == nil {
		c.Close()
		t.Fatal("fourth connection from one IP accepted")
	}
	if ts.rejects.Load() < 1 {
		t.Fatal("rejection not reported")
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.Addr().String(), cfg)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released after a close: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPlainHTTPRedirects(t *testing.T) {
	ts := start(t, nil, hello)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	port := ts.Addr().(*net.TCPAddr).Port
	for method, want := range map[string]int{"GET": 301, "HEAD": 301, "POST": 308} {
		req, _ := http.NewRequest(method, "http://"+ts.HTTPAddr().String()+"/a/b?c=d", nil)
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := fmt.Sprintf("https://127.0.0.1:%d/a/b?c=d", port)
		if res.StatusCode != want || res.Header.Get("Location") != loc {
			t.Errorf("%s: %d %q, want %d %q", method, res.StatusCode, res.Header.Get("Location"), want, loc)
		}
	}
	rec := &headerRecorder{h: http.Header{}}
	req, _ := http.NewRequest("GET", "http://[::1]:80/x", nil)
	Redirect(443).ServeHTTP(rec, req)
	if rec.h.Get("Location") != "https://[::1]/x" {
		t.Errorf("IPv6 redirect: %q", rec.h.Get("Location"))
	}
}

type headerRecorder struct {
	h    http.Header
	code int
}

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(c int)           { r.code = c }

// On shutdown the in-flight request finishes and new connections are refused.
func TestGracefulDrain(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	ts := start(t, func(c *config.Server) { c.ShutdownTimeout = config.Duration(10 * time.Second) }, h)
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		res, err := ts.client().Get(ts.url("/slow"))
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		got <- result{string(b), err}
	}()
	<-entered
	ts.cancel()
	// The listener closes at once...
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ts.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during drain")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	// ...and the request in flight completes.
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-ts.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	ts.done <- nil // for Cleanup
	if !strings.Contains(ts.log.String(), `"msg":"stopped"`) {
		t.Fatalf("no stopped line in log:\n%s", ts.log.String())
	}
}

// A request that outlives server.shutdown_timeout is cut off and Serve says so.
func TestDrainDeadline(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	ts := start(t, func(c *config.Server) { c.ShutdownTimeout = config.Duration(300 * time.Millisecond) }, h)
	go ts.client().Get(ts.url("/stuck"))
	<-entered
	begin := time.Now()
	ts.cancel()
	err := <-ts.done
	ts.done <- nil
	if err == nil || !strings.Contains(err.Error(), "shutdown_timeout") {
		t.Fatalf("Serve err = %v, want a drain deadline error", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("took %s to give up", d)
	}
}

func TestOccupiedPortNamesKeyAndAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := config.Default().Server
	cfg.Listen, cfg.HTTPListen = l.Addr().String(), ""
	err = New(Options{Config: cfg, Public: hello}).Listen()
	if err == nil || !strings.Contains(err.Error(), "server.listen") || !strings.Contains(err.Error(), l.Addr().String()) ||
		!strings.Contains(err.Error(), "already in use") {
		t.Fatalf("err = %v", err)
	}
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", l.Addr().String()
	err = New(Options{Config: cfg, Public: hello}).Listen()
	if err == nil || !strings.Contains(err.Error(), "server.http_listen") {
		t.Fatalf("err = %v", err)
	}
}

// The access log has one JSON line per request with the verdict fields.
func TestAccessLogLine(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := verdict.From(r.Context())
		in.SetApp("shop")
		in.Record(event.SQLi, event.Blocked, "942100", 5)
		Error(w, r, http.StatusForbidden)
	})
	ts := start(t, nil, h)
	res, err := ts.client().Get(ts.url("/search?q=1"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	id := res.Header.Get("X-Request-Id")
	var line map[string]any
	for _, l := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]any{"method": "GET", "path": "/search", "status": 403.0, "ip": "127.0.0.1", "id": id,
		"app": "shop", "kind": "sqli", "action": "blocked", "rule": "942100", "score": 5.0}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if line["bytes"].(float64) < 100 || line["host"] == "" || line["ms"] == nil {
		t.Errorf("line %v", line)
	}
}

// IPv6 clients are counted per /64: one subscriber's many addresses share one cap.
func TestIPv6CountedPerSlash64(t *testing.T) {
	a := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}
	b := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::2"), Port: 2}
	c := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 3}
	if hostOf(a) != hostOf(b) || hostOf(a) == hostOf(c) {
		t.Fatalf("keys: %s %s %s", hostOf(a), hostOf(b), hostOf(c))
	}
	if hostOf(&net.TCPAddr{IP: net.ParseIP("10.0.0.1")}) != "10.0.0.1" || addrIP(a) != "2001:db8:1:2:aaaa::1" {
		t.Fatal("IPv4 key or reported address wrong")
	}
}

// A client that connects and never completes the TLS handshake is cut at the header timeout.
func TestStalledHandshakeIsCut(t *testing.T) {
	ts := start(t, func(c *config.Server) { c.ReadHeaderTimeout = config.Duration(300 * time.Millisecond) }, hello)
	c, err := net.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x16, 0x03, 0x01}) // the first bytes of a ClientHello, then silence
	begin := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, c)
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("stalled handshake held for %s (err %v)", d, err)
	}
}
