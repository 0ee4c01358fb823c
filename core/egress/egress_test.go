package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDNS maps names to addresses; a real resolver would go off-box.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// server is a real TLS server on loopback; its certificate is for example.com, which the
// tests' resolver points at 127.0.0.1.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, string, *x509.CertPool) {
	t.Helper()
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	return ts, port, pool
}

func client(t *testing.T, p Policy, pool *x509.CertPool, dns fakeDNS, allowLoopback bool) *Client {
	t.Helper()
	o := Options{Resolver: dns, RootCAs: pool}
	if allowLoopback {
		o.AllowPrefixesForTesting = loopback
	}
	c, err := New(p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func wantDenied(t *testing.T, err error, rule string) {
	t.Helper()
	var d *Denied
	if !errors.As(err, &d) {
		t.Fatalf("err = %v (%T), want *Denied %s", err, err, rule)
	}
	if d.Rule != rule {
		t.Fatalf("rule = %s (%v), want %s", d.Rule, d, rule)
	}
}

func TestAllowedFetchOverTLS(t *testing.T) {
	var hits atomic.Int32
	_, port, pool := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Auth", r.Header.Get("X-Key"))
		w.WriteHeader(201)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	})
	c := client(t, Policy{Allow: []string{"Example.COM:" + port}}, pool, fakeDNS{"example.com": {"127.0.0.1"}}, true)
	res, err := c.Session().Do(context.Background(), Request{Method: "post", URL: "https://EXAMPLE.com:" + port + "/p?q=1",
		Header: http.Header{"X-Key": {"k"}, "Host": {"internal.corp"}, "Connection": {"Upgrade"}}, Body: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 201 || string(res.Body) != "POST /p hi" || res.Header.Get("X-Seen-Host") != "example.com:"+port || res.Header.Get("X-Seen-Auth") != "k" {
		t.Fatalf("res = %+v %q", res, res.Body)
	}
	if res.StatusText != "Created" || res.URL != "https://example.com:"+port+"/p?q=1" {
		t.Errorf("status text %q url %q", res.StatusText, res.URL)
	}
	// The same server, but without the testing exemption: loopback is refused at dial time,
	// so not one byte reaches it.
	before := hits.Load()
	prod := client(t, Policy{Allow: []string{"example.com:" + port}}, pool, fakeDNS{"example.com": {"127.0.0.1"}}, false)
	_, err = prod.Session().Do(context.Background(), Request{URL: "https://example.com:" + port + "/"})
	wantDenied(t, err, RuleAddress)
	if hits.Load() != before {
		t.Error("the refused request reached the server")
	}
}

func TestURLPolicy(t *testing.T) {
	c := client(t, Policy{Allow: []string{"api.example.com", "hooks.example.com:8443", "xn--bcher-kva.example"}}, nil, fakeDNS{}, false)
	cases := []struct{ url, rule string }{
		{"http://api.example.com/", RuleScheme},
		{"HTTP://api.example.com/", RuleScheme},
		{"ftp://api.example.com/", RuleScheme},
		{"//api.example.com/", RuleScheme},
		{"https://user:pass@api.example.com/", RuleUserinfo},
		{"https://api.example.com@evil.com/", RuleUserinfo},
		{"https://evil.com#@api.example.com/", RuleNotAllowed},
		{"https://evil.com\\@api.example.com/", RuleHostName},
		{"https://127.0.0.1/", RuleIPLiteral},
		{"https://[::1]/", RuleIPLiteral},
		{"https://[::ffff:127.0.0.1]/", RuleIPLiteral},
		{"https://169.254.169.254/latest/meta-data/", RuleIPLiteral},
		{"https://2130706433/", RuleIPLiteral},
		{"https://0x7f.1/", RuleIPLiteral},
		{"https://127.1/", RuleIPLiteral},
		{"https://api.example.com./", RuleHostName},
		{"https://api.example.com:444/", RuleNotAllowed},
		{"https://api.example.com:0443/", RuleNotAllowed},
		{"https://hooks.example.com/", RuleNotAllowed},
		{"https://api.example.com.evil.com/", RuleNotAllowed},
		{"https://evilapi.example.com/", RuleNotAllowed},
		{"https://example.com/", RuleNotAllowed},
		{"https://аpi.example.com/", RuleNotAllowed}, // Cyrillic а: a different name
		{"https://api%2eexample.com/", RuleHostName},
	}
	for _, tc := range cases {
		_, err := c.check(tc.url)
		var d *Denied
		if !errors.As(err, &d) || d.Rule != tc.rule {
			t.Errorf("%s: err = %v, want rule %s", tc.url, err, tc.rule)
		}
	}
	for _, ok := range []string{"https://API.Example.com/x", "https://api.example.com:443/", "https://hooks.example.com:8443/h",
		"https://bücher.example/", "https://xn--bcher-kva.example/", "https://BÜCHER.example/"} {
		if _, err := c.check(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	if _, err := New(Policy{Allow: []string{"bad host"}}, Options{}); err == nil {
		t.Error("malformed allow entry accepted")
	}
	_, err := c.Session().Do(context.Background(), Request{Method: "CONNECT", URL: "https://api.example.com/"})
	wantDenied(t, err, RuleMethod)
}

func TestPublic(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"100.100.100.200", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254",
		"ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::", "2001::1", "::127.0.0.1", "198.18.0.1"} {
		if Public(netip.MustParseAddr(s)) {
			t.Errorf("%s considered public", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if !Public(netip.MustParseAddr(s)) {
			t.Errorf("%s considered private", s)
		}
	}
}

// TestDialTimeChecks resolves allowed names to internal addresses (as DNS rebinding would):
// the dialer's Control hook refuses before any connection is made.
func TestDialTimeChecks(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "169.254.169.254", "10.0.0.1", "::1", "::ffff:127.0.0.1", "100.64.1.1", "0.0.0.0", "fd00:ec2::254"} {
		c := client(t, Policy{Allow: []string{"api.example.com"}, Timeout: 2 * time.Second}, nil, fakeDNS{"api.example.com": {addr}}, false)
		_, err := c.Session().Do(context.Background(), Request{URL: "https://api.example.com/"})
		wantDenied(t, err, RuleAddress)
	}
	// A mixed answer (a private address among public ones) is refused as soon as it is tried.
	c := client(t, Policy{Allow: []string{"api.example.com"}}, nil, fakeDNS{"api.example.com": {"10.0.0.1", "8.8.8.8"}}, false)
	_, err := c.Session().Do(context.Background(), Request{URL: "https://api.example.com/"})
	wantDenied(t, err, RuleAddress)
}

func TestRedirectsRecheckedEachHop(t *testing.T) {
	var port string
	var final atomic.Int32
	_, port, pool := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-ip":
			http.Redirect(w, r, "https://127.0.0.1:"+port+"/final", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-http":
			http.Redirect(w, r, "http://example.com:"+port+"/final", http.StatusFound)
		case "/to-other":
			http.Redirect(w, r, "https://internal.example.com:"+port+"/final", http.StatusFound)
		case "/to-rebound":
			http.Redirect(w, r, "https://rebound.example.com:"+port+"/final", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/ok":
			w.Header().Set("X-Auth-Seen", r.Header.Get("Authorization"))
			http.Redirect(w, r, "/final", http.StatusSeeOther)
		case "/final":
			final.Add(1)
			fmt.Fprintf(w, "final %s auth=%s", r.Method, r.Header.Get("Authorization"))
		}
	})
	dns := fakeDNS{"example.com": {"127.0.0.1"}, "internal.example.com": {"127.0.0.1"}, "rebound.example.com": {"127.0.0.1"}}
	// rebound.example.com is allowed but the client has no loopback exemption for it: the
	// exemption below is per client, so use a client whose policy allows it and see the address check.
	c := client(t, Policy{Allow: []string{"example.com:" + port}, MaxRedirects: 3}, pool, dns, true)
	s := c.Session()
	for path, rule := range map[string]string{"/to-ip": RuleIPLiteral, "/to-metadata": RuleIPLiteral, "/to-http": RuleScheme,
		"/to-other": RuleNotAllowed, "/loop": RuleRedirects} {
		_, err := s.Do(context.Background(), Request{URL: "https://example.com:" + port + path})
		var d *Denied
		if !errors.As(err, &d) || d.Rule != rule {
			t.Errorf("%s: err = %v, want %s", path, err, rule)
		}
	}
	if final.Load() != 0 {
		t.Fatal("a refused redirect reached its target")
	}
	res, err := s.Do(context.Background(), Request{Method: "POST", URL: "https://example.com:" + port + "/ok", Body: []byte("x"), Header: http.Header{"Authorization": {"Bearer t"}}})
	if err != nil || string(res.Body) != "final GET auth=Bearer t" || !res.Redirected || !strings.HasSuffix(res.URL, "/final") {
		t.Fatalf("res = %+v %v", res, err)
	}
	res, err = s.Do(context.Background(), Request{URL: "https://example.com:" + port + "/ok", Redirect: "manual"})
	if err != nil || res.Status != 303 {
		t.Fatalf("manual: %+v %v", res, err)
	}
	_, err = s.Do(context.Background(), Request{URL: "https://example.com:" + port + "/ok", Redirect: "error"})
	wantDenied(t, err, RuleRedirects)

	// A redirect to an allowed name that resolves to an internal address: only 127.0.0.1 (the
	// stand-in public host) is exempt, so 127.0.0.2 is refused at dial time on the second hop.
	prod, err := New(Policy{Allow: []string{"example.com:" + port, "rebound.example.com:" + port}}, Options{RootCAs: pool,
		Resolver: fakeDNS{"example.com": {"127.0.0.1"}, "rebound.example.com": {"127.0.0.2"}}, AllowPrefixesForTesting: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = prod.Session().Do(context.Background(), Request{URL: "https://example.com:" + port + "/to-rebound"})
	wantDenied(t, err, RuleAddress)
	var d *Denied
	errors.As(err, &d)
	if d.URL != "rebound.example.com" {
		t.Errorf("denied %q, want the redirect target", d.URL)
	}
}

func TestCaps(t *testing.T) {
	var inFlight, peak atomic.Int32
	stop := make(chan struct{})
	defer close(stop)
	_, port, pool := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(make([]byte, 2<<20))
		case "/slow":
			// Answer late whatever the client does, so only the client's own timeout can end it.
			select {
			case <-time.After(3 * time.Second):
			case <-stop:
			}
		case "/hold":
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
			inFlight.Add(-1)
		default:
			w.Write([]byte("ok"))
		}
	})
	dns := fakeDNS{"example.com": {"127.0.0.1"}}
	base := "https://example.com:" + port
	c := client(t, Policy{Allow: []string{"example.com:" + port}, Subrequests: 3, MaxBodyBytes: 1 << 20, MaxSendBytes: 100, Timeout: 300 * time.Millisecond, Concurrency: 2}, pool, dns, true)

	s := c.Session()
	for i := 0; i < 3; i++ {
		if _, err := s.Do(context.Background(), Request{URL: base + "/"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Do(context.Background(), Request{URL: base + "/"})
	wantDenied(t, err, RuleSubrequests)

	_, err = c.Session().Do(context.Background(), Request{URL: base + "/big"})
	wantDenied(t, err, RuleBodySize)
	_, err = c.Session().Do(context.Background(), Request{Method: "POST", URL: base + "/", Body: make([]byte, 101)})
	wantDenied(t, err, RuleBodySize)

	start := time.Now()
	_, err = c.Session().Do(context.Background(), Request{URL: base + "/slow"})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("slow: err = %v after %v", err, time.Since(start))
	}

	c2 := client(t, Policy{Allow: []string{"example.com:" + port}, Subrequests: 10, Concurrency: 2, Timeout: 5 * time.Second}, pool, dns, true)
	s2 := c2.Session()
	done := make(chan error, 6)
	for i := 0; i < 6; i++ {
		go func() {
			_, err := s2.Do(context.Background(), Request{URL: base + "/hold"})
			done <- err
		}()
	}
	for i := 0; i < 6; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrency %d, want <= 2", p)
	}
}

func TestPool(t *testing.T) {
	_, port, pool := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 500)) })
	p := NewPool(Policy{}, Options{RootCAs: pool, Resolver: fakeDNS{"example.com": {"127.0.0.1"}}, AllowPrefixesForTesting: loopback})
	defer p.Close()
	allow := []string{"example.com:" + port}
	res, err := p.Fetch(context.Background(), "a", allow, Request{URL: "https://example.com:" + port + "/"}, time.Second, 0)
	if err != nil || len(res.Body) != 500 {
		t.Fatalf("%v %v", res, err)
	}
	_, err = p.Fetch(context.Background(), "a", allow, Request{URL: "https://example.com:" + port + "/"}, time.Second, 100)
	wantDenied(t, err, RuleBodySize)
	_, err = p.Fetch(context.Background(), "b", nil, Request{URL: "https://example.com:" + port + "/"}, time.Second, 0)
	wantDenied(t, err, RuleNotAllowed)
	if !strings.Contains(err.Error(), "egress denied") {
		t.Errorf("denial text %q lacks \"egress denied\"", err)
	}
	if _, err := p.Fetch(context.Background(), "c", []string{"bad entry"}, Request{URL: "https://x.com/"}, 0, 0); err == nil {
		t.Error("malformed allow entry accepted")
	}
}
