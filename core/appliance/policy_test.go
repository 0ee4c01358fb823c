package appliance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"bulwark/core/config"
	"bulwark/core/policy"
)

// clientFrom is an HTTPS client whose connections come from the loopback address src, so
// one test can play several visitors.
func clientFrom(a *Appliance, src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:       d.DialContext,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: a.Certs.CA().Pool()},
	}}
}

// startPolicyAppliance runs the appliance on cfg's data folder with the guard and the
// policies wired as cmd/appliance does.
func startPolicyAppliance(t *testing.T, cfg config.Config) (*Appliance, string, *Defenses, *Policies, func() error) {
	t.Helper()
	a, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	saved, err := a.SavedBans()
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.UseGuard(GuardOptions{SavedBans: saved})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.UsePolicies(d, PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	a.Pipeline.Router = mux
	base, _, stop := running(t, a)
	return a, base, d, p, stop
}

func statusFrom(t *testing.T, a *Appliance, src, url string) (int, http.Header) {
	t.Helper()
	res, err := clientFrom(a, src).Get(url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, src, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header
}

// A ban, an operator deny entry and a headers profile survive a restart of the appliance
// on the same store file; a ban that expired meanwhile is not restored.
func TestPoliciesSurviveRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Guard.Deny = []string{"127.0.0.9"} // a config entry stays a base under the operator's
	a, base, d, p, stop := startPolicyAppliance(t, cfg)
	ctx := context.Background()

	if code, _ := statusFrom(t, a, "127.0.0.2", base+"/"); code != 200 {
		t.Fatalf("before the ban: %d", code)
	}
	if _, err := d.Guard.Ban(netip.MustParseAddr("127.0.0.2"), time.Hour, "manual", "test: long ban"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Guard.Ban(netip.MustParseAddr("127.0.0.3"), 1500*time.Millisecond, "manual", "test: short ban"); err != nil {
		t.Fatal(err)
	}
	if code, _ := statusFrom(t, a, "127.0.0.2", base+"/"); code != 403 {
		t.Fatalf("banned address got %d, want 403", code)
	}
	if err := p.Lists.Add(ctx, "deny", netip.MustParsePrefix("127.0.0.4/32"), "test deny"); err != nil {
		t.Fatal(err)
	}
	if code, _ := statusFrom(t, a, "127.0.0.4", base+"/"); code != 403 {
		t.Fatalf("denied address got %d at once, want 403", code)
	}
	if _, h := statusFrom(t, a, "127.0.0.5", base+"/"); h.Get("Content-Security-Policy") == policyStrictCSP(t) {
		t.Fatal("the default profile already sends the strict CSP; the test could not tell them apart")
	}
	if err := p.Docs.Put(ctx, "headers", json.RawMessage(`{"profile":"strict"}`)); err != nil {
		t.Fatal(err)
	}
	_, h := statusFrom(t, a, "127.0.0.5", base+"/")
	strict := h.Get("Content-Security-Policy")
	if want := policyStrictCSP(t); strict != want {
		t.Fatalf("headers profile not live: CSP %q, want the strict profile's %q", strict, want)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	time.Sleep(1600 * time.Millisecond) // the short ban expires while the appliance is down
	a2, base2, d2, p2, _ := startPolicyAppliance(t, cfg)
	if code, _ := statusFrom(t, a2, "127.0.0.2", base2+"/"); code != 403 {
		t.Fatalf("ban not restored: %d", code)
	}
	if code, _ := statusFrom(t, a2, "127.0.0.3", base2+"/"); code != 200 {
		t.Fatalf("expired ban restored: %d", code)
	}
	for _, b := range d2.Bans.List(time.Now()) {
		if b.Addr.String() == "127.0.0.3" {
			t.Fatalf("expired ban in the store: %+v", b)
		}
	}
	saved, err := (policy.Store{DB: a2.Store}).SavedBans(ctx, time.Now())
	if err != nil || len(saved) != 1 || saved[0].Addr.String() != "127.0.0.2" || saved[0].Reason != "test: long ban" {
		t.Fatalf("saved bans after restart: %+v, %v", saved, err)
	}
	if code, _ := statusFrom(t, a2, "127.0.0.4", base2+"/"); code != 403 {
		t.Fatalf("operator deny entry not restored: %d", code)
	}
	if code, _ := statusFrom(t, a2, "127.0.0.9", base2+"/"); code != 403 {
		t.Fatalf("config deny entry lost: %d", code)
	}
	deny, _ := p2.Lists.List(ctx, "deny")
	if len(deny) != 2 || deny[0].CIDR != "127.0.0.9" || deny[1].CIDR != "127.0.0.4/32" || deny[1].Note != "test deny" {
		t.Fatalf("deny list after restart: %+v", deny)
	}
	if _, h := statusFrom(t, a2, "127.0.0.5", base2+"/"); h.Get("Content-Security-Policy") != strict {
		t.Fatalf("headers profile not restored: %q", h.Get("Content-Security-Policy"))
	}

	// Unbanning is persisted too.
	if ok, err := d2.Guard.Unban(netip.MustParseAddr("127.0.0.2")); !ok || err != nil {
		t.Fatalf("unban: %v %v", ok, err)
	}
	waitFor(t, func() bool {
		s, _ := (policy.Store{DB: a2.Store}).SavedBans(ctx, time.Now())
		return len(s) == 0
	})
}

func policyStrictCSP(t *testing.T) string {
	t.Helper()
	s, err := policy.BuildHeaders(config.Headers{Profile: "strict"})
	if err != nil {
		t.Fatal(err)
	}
	return s.Profile("strict").Header().Get("Content-Security-Policy")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

// The WAF document switches the running WAF between block and detect without a restart,
// and a mode saved through the API is what the next start compiles.
func TestWAFModeLive(t *testing.T) {
	cfg := testConfig(t)
	a, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.UseGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.UsePolicies(d, PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UseWAF(p, nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	a.Pipeline.Router = mux
	base, _, stop := running(t, a)
	attack := base + "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--"
	if code, _ := statusFrom(t, a, "127.0.0.6", attack); code != 403 {
		t.Fatalf("block mode let the attack through: %d", code)
	}
	ctx := context.Background()
	if err := p.Docs.Put(ctx, "waf", json.RawMessage(`{"mode":"detect"}`)); err != nil {
		t.Fatal(err)
	}
	if code, _ := statusFrom(t, a, "127.0.0.7", attack); code != 200 {
		t.Fatalf("detect mode refused: %d", code)
	}
	if err := p.Docs.Put(ctx, "waf", json.RawMessage(`{"paranoia":2}`)); err != nil {
		t.Fatal(err)
	}
	if pend := p.Docs.Pending("waf"); !strings.Contains(pend, "paranoia 2") {
		t.Fatalf("paranoia change not reported as waiting for a restart: %q", pend)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	a2, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	d2, err := a2.UseGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := a2.UsePolicies(d2, PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if wc := p2.Docs.WAFConfig(); wc.Mode != "detect" || wc.Paranoia != 2 {
		t.Fatalf("waf section after restart: %+v", wc)
	}
}
