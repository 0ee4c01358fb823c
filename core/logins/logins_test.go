package logins

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/guard"
	"bulwark/core/verdict"
)

type recorder struct {
	mu sync.Mutex
	ev []event.Event
}

func (r *recorder) Emit(e event.Event) { r.mu.Lock(); r.ev = append(r.ev, e); r.mu.Unlock() }
func (r *recorder) rules(kind event.Kind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.ev {
		if e.Kind == kind {
			out = append(out, e.Rule)
		}
	}
	return out
}

func TestDetectors(t *testing.T) {
	rec := &recorder{}
	m, err := New(Options{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	// Account under attack: 5 failures on alice from several addresses.
	for i := 0; i < 5; i++ {
		m.LoginFailed("198.51.100."+string(rune('1'+i)), "shop", "alice")
	}
	if got := rec.rules(event.LoginFailed); len(got) != 6 || got[5] != "account-under-attack" {
		t.Errorf("login_failed rules %v", got)
	}
	if len(rec.rules(event.CredentialStuffing)) != 0 {
		t.Error("stuffing reported for one account")
	}
	// Stuffing: 5 distinct accounts from one address.
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		m.LoginFailed("203.0.113.50", "shop", u)
	}
	if got := rec.rules(event.CredentialStuffing); len(got) != 1 || got[0] != "many-accounts-one-address" {
		t.Errorf("stuffing: %v", got)
	}
	// Spray: 20 accounts app-wide, each from its own address.
	for i := 0; i < 20; i++ {
		m.LoginFailed(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String(), "blog", "user"+string(rune('a'+i)))
	}
	if got := rec.rules(event.CredentialStuffing); len(got) != 2 || got[1] != "password-spray" {
		t.Errorf("spray: %v", got)
	}
	// New address for a known account; the first login is not "new".
	m.LoginSucceeded("198.51.100.1", "shop", "bob")
	m.LoginSucceeded("198.51.100.1", "shop", "bob")
	if len(rec.rules(event.LoginNewIP)) != 0 {
		t.Error("first address reported as new")
	}
	m.LoginSucceeded("::ffff:198.51.100.99", "shop", "bob")
	if got := rec.rules(event.LoginNewIP); len(got) != 1 {
		t.Errorf("new address: %v", got)
	}
	m.AccountChanged("198.51.100.99", "shop", "bob", "password")
	if got := rec.rules(event.AccountChanged); len(got) != 1 {
		t.Errorf("account change: %v", got)
	}
	saved := m.KnownIPs()
	m2, _ := New(Options{}, rec)
	m2.LoadKnownIPs(saved)
	m2.LoginSucceeded("198.51.100.1", "shop", "bob")
	if got := rec.rules(event.LoginNewIP); len(got) != 1 {
		t.Errorf("restored known addresses not used: %v", got)
	}
	if _, err := New(Options{SprayUsers: Threshold{Max: 0, Window: time.Minute}}, nil); err == nil || !strings.Contains(err.Error(), "spray_users") {
		t.Errorf("bad threshold: %v", err)
	}
}

// TestLoginSprayFromOneAddressEndsInBanAnd403 runs the whole loop over real TLS: the app
// reports failed logins, the monitor turns them into events on the bus, the guard's rules
// ban the address, and the guard's access stage answers 403.
func TestLoginSprayFromOneAddressEndsInBanAnd403(t *testing.T) {
	bus := event.NewBus()
	seen := bus.Subscribe("test", 1024)
	g, err := guard.New(guard.Options{}, nil, bus)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx, bus.Subscribe("guard", 1024))
	mon, _ := New(Options{}, bus)

	// The app: every login fails and it reports so, as ctx.security.loginFailed would.
	appH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		mon.LoginFailed(ip, "shop", r.PostForm.Get("user"))
		http.Error(w, "wrong password", http.StatusUnauthorized)
	})
	h := g.Access()(g.RateLimit()(appH))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _ = verdict.New(r)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := srv.Client()

	post := func(user string) int {
		res, err := c.PostForm(srv.URL+"/login", url.Values{"user": {user}, "password": {"Winter2026!"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	status := 0
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if status = post("user" + string(rune('a'+i%26)) + string(rune('a'+i/26))); status == http.StatusForbidden {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if status != http.StatusForbidden {
		t.Fatalf("spray never led to 403 (last %d)", status)
	}
	b, ok := g.Store().IsBanned(netip.MustParseAddr("127.0.0.1"), time.Now())
	if !ok || b.Rule != "credential-stuffing" {
		t.Fatalf("ban %+v", b)
	}
	// The trail on the bus: failures, stuffing, the ban, the refused request.
	kinds := map[event.Kind]int{}
	timeout := time.After(2 * time.Second)
	for kinds[event.Banned] < 2 {
		select {
		case e := <-seen.C:
			kinds[e.Kind]++
		case <-timeout:
			t.Fatalf("events: %v", kinds)
		}
	}
	if kinds[event.LoginFailed] < 5 || kinds[event.CredentialStuffing] < 1 {
		t.Errorf("events: %v", kinds)
	}
	if post("someone") != http.StatusForbidden {
		t.Error("banned address served")
	}
}

func TestRunConsumesAppSignals(t *testing.T) {
	bus := event.NewBus()
	out := bus.Subscribe("out", 256)
	m, _ := New(Options{}, bus)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx, bus.Subscribe("logins", 256))
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		bus.Emit(event.Event{Kind: event.LoginFailed, IP: "203.0.113.7", App: "shop", Rule: AppSignalRule, Detail: event.DetailJSON(map[string]string{"user": u})})
	}
	timeout := time.After(3 * time.Second)
	for {
		select {
		case e := <-out.C:
			if e.Kind == event.CredentialStuffing && e.IP == "203.0.113.7" {
				return
			}
		case <-timeout:
			t.Fatal("no credential_stuffing event from app signals")
		}
	}
}
