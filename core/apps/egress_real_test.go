package apps_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark/core/apps"
	"bulwark/core/event"
)

// fakeDNS answers every name from a fixed table, like a resolver an attacker controls.
type fakeDNS map[string]string

func (f fakeDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestEgressThroughRealClient runs fetches from a worker through core/egress to a loopback
// TLS server standing in for an allowed host: the allowed fetch works, a redirect to the
// metadata address or to a host off the list is refused, and an allowed name that resolves
// to a private address is refused at dial time; each refusal is an egress_denied event.
func TestEgressThroughRealClient(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello":
			w.Write([]byte("hi from upstream"))
		case "/to-metadata":
			http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-other":
			http.Redirect(w, r, "https://internal.example.com:"+portOf(r.Host)+"/hello", http.StatusFound)
		}
	}))
	up.StartTLS()
	defer up.Close()
	port := portOf(up.Listener.Addr().String())
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.json"), []byte(fmt.Sprintf(`{"name": "egress2", "entry": "index.js",
		"routes": ["egress2.test/*"], "limits": {"memory_mb": 64, "cpu_ms": 200},
		"permissions": {"fetch": ["api.example.com:%s", "rebind.example.com:%s"]}}`, port, port)), 0o644)
	os.WriteFile(filepath.Join(dir, "index.js"), []byte(fmt.Sprintf(`
const base = "https://api.example.com:%s";
export default {
  async fetch(request) {
    if (new URL(request.url).pathname !== "/run") return new Response("up");
    const out = {};
    for (const u of [base + "/hello", base + "/to-metadata", base + "/to-other", "https://rebind.example.com:%s/hello"]) {
      try { const r = await fetch(u); out[u] = r.status + " " + await r.text(); } catch (e) { out[u] = "denied: " + e.message; }
    }
    return Response.json(out);
  },
};`, port, port)), 0o644)

	e := newEnvWith(t, apps.Capabilities{}, func(c *apps.Config) {
		c.Egress.Resolver = fakeDNS{"api.example.com": "127.0.0.1", "internal.example.com": "127.0.0.1", "rebind.example.com": "10.0.0.5"}
		c.Egress.RootCAs = roots
		c.Egress.AllowPrefixesForTesting = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	if _, err := e.m.Deploy(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	code, body := e.get("egress2.test", "/run")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var res map[string]string
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	for u, v := range res {
		t.Logf("%s → %s", u, v)
		wantOK := strings.HasSuffix(u, "/hello") && strings.Contains(u, "api.example.com")
		if wantOK != strings.HasPrefix(v, "200 hi from upstream") {
			t.Errorf("%s: %s", u, v)
		}
	}
	if n := e.ev.count(event.EgressDenied); n < 3 {
		t.Errorf("%d egress_denied events, want 3", n)
	}
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}
