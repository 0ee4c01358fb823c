package egress

import (
	"net"
	"net/url"
	"testing"
)

// FuzzCheck: whatever the URL, an accepted one is https, has no userinfo and names exactly an
// allowed host and port.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"https://api.example.com/x", "https://API.example.com:443/", "https://a@api.example.com/",
		"https://api.example.com./", "https://[::1]/", "https://xn--bcher-kva.example/", "https://bücher.example/", "https://0x7f.1/"} {
		f.Add(s)
	}
	c, err := New(Policy{Allow: []string{"api.example.com", "hooks.example.com:8443", "xn--bcher-kva.example"}}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := c.check(raw)
		if err != nil {
			return
		}
		p, perr := url.Parse(u.String())
		if perr != nil || p.Scheme != "https" || p.User != nil {
			t.Fatalf("%q accepted as %q", raw, u)
		}
		port := p.Port()
		if port == "" {
			port = "443"
		}
		if !c.allow[net.JoinHostPort(p.Hostname(), port)] {
			t.Fatalf("%q accepted for %s:%s, not on the list", raw, p.Hostname(), port)
		}
	})
}
