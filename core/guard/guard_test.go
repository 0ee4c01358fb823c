package guard

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

// recorder is a Sink that keeps events for assertions.
type recorder struct {
	mu sync.Mutex
	ev []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
}

func (r *recorder) find(kind event.Kind, action event.Action) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	for _, e := range r.ev {
		if e.Kind == kind && e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// withInfo plays the foundation's RequestInfo stage: the verdict record with the client IP.
func withInfo(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _ = verdict.New(r)
		h.ServeHTTP(w, r)
	})
}

// tlsFront serves app through the guard's stages over real TLS on loopback.
func tlsFront(t *testing.T, g *Guard, app http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(withInfo(g.Access()(g.RateLimit()(app))))
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12
	return srv, c
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestInvalidCIDRIsRefusedNamingIt(t *testing.T) {
	_, err := New(Options{Allow: []string{"10.0.0.0/8", "192.0.2.300/24"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `guard.allow[1]`) || !strings.Contains(err.Error(), `"192.0.2.300/24"`) {
		t.Fatalf("err = %v, want it to name guard.allow[1] and the entry", err)
	}
	_, err = New(Options{Deny: []string{"10.1.2.3/8"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `guard.deny[0]`) || !strings.Contains(err.Error(), "10.0.0.0/8") {
		t.Fatalf("err = %v, want host-bits error suggesting 10.0.0.0/8", err)
	}
	_, err = New(Options{Rules: []Rule{{Name: "x", Kinds: []event.Kind{event.XSS}, MaxMatches: 0, FindTime: time.Minute, BanTime: time.Minute}}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "guard.rules[0] (x).max_matches") {
		t.Fatalf("malformed rule: err = %v", err)
	}
}

func TestBanOnAllowlistedAddressIsRefused(t *testing.T) {
	g, err := New(Options{Allow: []string{"127.0.0.0/8", "2001:db8::/32"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.9", "2001:db8::5"} {
		_, err := g.Ban(netip.MustParseAddr(ip), time.Hour, "manual", "test")
		if !errors.Is(err, ErrAllowlisted) || !strings.Contains(err.Error(), "guard.allow") {
			t.Errorf("Ban(%s) err = %v, want ErrAllowlisted naming the entry", ip, err)
		}
	}
	if got := g.Store().List(time.Now()); len(got) != 0 {
		t.Errorf("refused bans were stored: %v", got)
	}
	if _, err := g.Ban(netip.MustParseAddr("198.51.100.1"), time.Hour, "manual", "test"); err != nil {
		t.Errorf("ordinary ban refused: %v", err)
	}
}

func TestSixthEnvProbeInAMinuteBans(t *testing.T) {
	rec := &recorder{}
	g, err := New(Options{}, nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	srv, c := tlsFront(t, g, http.NotFoundHandler())
	for i := 1; i <= 5; i++ {
		if res := get(t, c, srv.URL+"/.env"); res.StatusCode != 404 {
			t.Fatalf("probe %d: status %d, want the app's 404 (not banned yet)", i, res.StatusCode)
		}
	}
	if _, banned := g.Store().IsBanned(netip.MustParseAddr("127.0.0.1"), time.Now()); banned {
		t.Fatal("banned after 5 probes; the 6th must ban")
	}
	get(t, c, srv.URL+"/.env") // the 6th
	b, banned := g.Store().IsBanned(netip.MustParseAddr("127.0.0.1"), time.Now())
	if !banned || b.Rule != "scenario:sensitive-file" || time.Until(b.Expires) < 59*time.Minute {
		t.Fatalf("after 6 probes: banned=%v ban=%+v", banned, b)
	}
	if res := get(t, c, srv.URL+"/"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("banned client got %d, want 403", res.StatusCode)
	}
	if n := len(rec.find(event.Probe, event.Logged)); n != 6 {
		t.Errorf("probe events = %d, want 6", n)
	}
	if len(rec.find(event.Banned, event.BannedIP)) != 1 || len(rec.find(event.Banned, event.Blocked)) != 1 {
		t.Errorf("want one ban event and one blocked event, got %+v", rec.ev)
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	rec := &recorder{}
	g, err := New(Options{PerIP: Rate{PerSecond: 0.5, Burst: 3}}, nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	srv, c := tlsFront(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for i := 0; i < 3; i++ {
		if res := get(t, c, srv.URL+"/"); res.StatusCode != 200 {
			t.Fatalf("request %d within burst: %d", i, res.StatusCode)
		}
	}
	res := get(t, c, srv.URL+"/")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d Retry-After %q, want 429 and 2", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if ev := rec.find(event.RateLimit, event.Throttled); len(ev) != 1 || ev[0].IP != "127.0.0.1" {
		t.Errorf("rate_limit events: %+v", ev)
	}
	// Per-app limit applies across addresses.
	g2, _ := New(Options{PerIP: Off(), AppRates: map[string]Rate{"shop": {PerSecond: 1, Burst: 1}}, AppOf: func(*http.Request) string { return "shop" }}, nil, nil)
	srv2, c2 := tlsFront(t, g2, http.NotFoundHandler())
	get(t, c2, srv2.URL+"/")
	if res := get(t, c2, srv2.URL+"/"); res.StatusCode != 429 {
		t.Errorf("per-app limit: %d", res.StatusCode)
	}
}

func TestRulesFromBusIncrementAndRecidive(t *testing.T) {
	bus := event.NewBus()
	rec := &recorder{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g, err := New(Options{Now: clock, Rules: []Rule{{Name: "login", Kinds: []event.Kind{event.LoginFailed}, MaxMatches: 3, FindTime: time.Minute, BanTime: 10 * time.Minute}},
		Recidive: Recidive{MaxBans: 3, FindTime: 24 * time.Hour, BanTime: 7 * 24 * time.Hour}}, nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	sub := bus.Subscribe("guard", 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx, sub)
	addr := netip.MustParseAddr("203.0.113.9")
	wantDur := []time.Duration{10 * time.Minute, 20 * time.Minute, 7 * 24 * time.Hour}
	for round, want := range wantDur {
		for i := 0; i < 3; i++ {
			bus.Emit(event.Event{Kind: event.LoginFailed, IP: addr.String(), Rule: "login"})
		}
		deadline := time.Now().Add(5 * time.Second)
		var b Ban
		var ok bool
		for time.Now().Before(deadline) {
			if b, ok = g.Store().IsBanned(addr, clock()); ok {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !ok {
			t.Fatalf("round %d: not banned after 3 failures", round)
		}
		if got := b.Expires.Sub(b.Created); got != want || b.Offense != round+1 {
			t.Errorf("round %d: ban %s offense %d (rule %s), want %s offense %d", round, got, b.Offense, b.Rule, want, round+1)
		}
		if round == 2 && b.Rule != "recidive" {
			t.Errorf("third ban within a day: rule %q, want recidive", b.Rule)
		}
		g.Unban(addr)
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
	}
	// Allowlisted addresses are never banned by rules.
	g2, _ := New(Options{Allow: []string{"203.0.113.0/24"}, Rules: []Rule{{Name: "login", Kinds: []event.Kind{event.LoginFailed}, MaxMatches: 1, FindTime: time.Minute, BanTime: time.Minute}}}, nil, nil)
	g2.Observe(event.Event{Kind: event.LoginFailed, IP: addr.String()})
	if _, ok := g2.Store().IsBanned(addr, time.Now()); ok {
		t.Error("allowlisted address banned by a rule")
	}
}

func TestBansRebuiltFromSavedAndDenyList(t *testing.T) {
	now := time.Now()
	saved := []Ban{
		{Addr: netip.MustParseAddr("198.51.100.7"), Rule: "manual", Created: now.Add(-time.Hour), Expires: now.Add(time.Hour)},
		{Addr: netip.MustParseAddr("198.51.100.8"), Rule: "manual", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)},
	}
	m := NewMemoryBans()
	if n := m.Load(saved, now); n != 1 {
		t.Fatalf("Load restored %d, want 1 (one expired)", n)
	}
	var changes []string
	m.OnChange = func(b Ban, removed bool) {
		changes = append(changes, b.Addr.String()+map[bool]string{true: " -", false: " +"}[removed])
	}
	if _, ok := m.IsBanned(netip.MustParseAddr("198.51.100.7"), now); !ok {
		t.Error("saved ban not restored")
	}
	m.Unban(netip.MustParseAddr("198.51.100.7"))
	if len(changes) != 1 || changes[0] != "198.51.100.7 -" {
		t.Errorf("OnChange: %v", changes)
	}

	rec := &recorder{}
	g, _ := New(Options{Deny: []string{"127.0.0.0/8"}}, nil, rec)
	srv, c := tlsFront(t, g, http.NotFoundHandler())
	if res := get(t, c, srv.URL+"/"); res.StatusCode != 403 {
		t.Fatalf("denied address got %d", res.StatusCode)
	}
	if ev := rec.find(event.Banned, event.Blocked); len(ev) != 1 || ev[0].Rule != "deny-list" {
		t.Errorf("deny events: %+v", ev)
	}
}

func TestScannerUserAgentAndNotFoundBurst(t *testing.T) {
	rec := &recorder{}
	g, _ := New(Options{}, nil, rec)
	srv, c := tlsFront(t, g, http.NotFoundHandler())
	get(t, c, srv.URL+"/", "User-Agent", "sqlmap/1.7#stable (https://sqlmap.org)")
	get(t, c, srv.URL+"/", "User-Agent", "sqlmap/1.7#stable (https://sqlmap.org)")
	if b, ok := g.Store().IsBanned(netip.MustParseAddr("127.0.0.1"), time.Now()); !ok || b.Rule != "scenario:scanner-user-agent" {
		t.Fatalf("scanner not banned: %+v", b)
	}
	if len(rec.find(event.Scanner, event.Logged)) != 2 {
		t.Errorf("scanner events: %+v", rec.ev)
	}

	g2, _ := New(Options{Scenarios: Scenarios{SensitiveFiles: Threshold{6, time.Minute, time.Hour}, NotFound: Threshold{5, time.Minute, time.Minute},
		Scanner: Threshold{2, time.Minute, time.Hour}, Flood: Threshold{100, time.Minute, time.Minute}}}, nil, nil)
	srv2, c2 := tlsFront(t, g2, http.NotFoundHandler())
	for i := 0; i < 5; i++ {
		get(t, c2, srv2.URL+"/nope"+string(rune('a'+i)))
	}
	if res := get(t, c2, srv2.URL+"/"); res.StatusCode != 403 {
		t.Errorf("after a 404 burst: %d, want 403", res.StatusCode)
	}
}

// BenchmarkGuardHotPath is what every request pays in the guard: allow/deny lookup, ban
// check, per-IP and per-app token buckets. The baseline is the bare handler.
func BenchmarkGuardHotPath(b *testing.B) {
	g, err := New(Options{Allow: []string{"10.9.0.0/16"}, Deny: []string{"192.0.2.0/24", "2001:db8::/32"}, PerIP: Rate{PerSecond: 1e9, Burst: 1 << 30}, PerApp: Rate{PerSecond: 1e9, Burst: 1 << 30}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		g.Ban(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), time.Hour, "manual", "bench")
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := g.Access()(g.RateLimit()(ok))
	req := httptest.NewRequest("GET", "https://example.test/", nil)
	req.RemoteAddr = "203.0.113.5:4444"
	req, _ = verdict.New(req)
	w := httptest.NewRecorder()
	// The bare handler, timed by hand (testing.Benchmark cannot nest in a running benchmark).
	const baseN = 1 << 20
	start := time.Now()
	for i := 0; i < baseN; i++ {
		ok.ServeHTTP(w, req)
	}
	baseNs := float64(time.Since(start).Nanoseconds()) / baseN
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	b.ReportMetric(baseNs, "bare-handler-ns/op")
}

func TestSetListsIsLiveAndAtomic(t *testing.T) {
	g, _ := New(Options{}, nil, nil)
	srv, c := tlsFront(t, g, http.NotFoundHandler())
	if err := g.SetLists(nil, []string{"127.0.0.1", "bad/cidr"}); err == nil || !strings.Contains(err.Error(), `guard.deny[1]`) {
		t.Fatalf("bad list accepted: %v", err)
	}
	if res := get(t, c, srv.URL+"/"); res.StatusCode != 404 {
		t.Fatalf("refused SetLists changed the lists: %d", res.StatusCode)
	}
	if err := g.SetLists(nil, []string{"127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if res := get(t, c, srv.URL+"/"); res.StatusCode != 403 {
		t.Fatalf("deny list not live: %d", res.StatusCode)
	}
	if err := g.SetLists([]string{"127.0.0.1"}, []string{"127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if res := get(t, c, srv.URL+"/"); res.StatusCode != 404 {
		t.Fatalf("allow should win over deny: %d", res.StatusCode)
	}
	if a, d := g.Lists(); len(a) != 1 || len(d) != 1 {
		t.Errorf("Lists() = %v %v", a, d)
	}
}

func TestSensitivePathMatchEqualsContains(t *testing.T) {
	st, err := newScenarios(Scenarios{SensitiveFiles: Threshold{1, time.Minute, time.Minute}, NotFound: Threshold{1, time.Minute, time.Minute},
		Scanner: Threshold{1, time.Minute, time.Minute}, Flood: Threshold{1, time.Minute, time.Minute}, ExtraSensitive: []string{"/Private-Area", "secret.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/", "/index.html", "/.env", "/app/.ENV.local", "/.git/config", "/.github/x", "/static/app.js", "/WP-ADMIN/setup.php",
		"/a/b/c/../../etc/passwd", "/x/private-area/y", "/docs/secret.txt", "/backup.sql", "/release.zip", "/vendor/phpunit/x", "//.env", "/.", "/a/"}
	for _, p := range paths {
		for _, status := range []int{200, 404} {
			_, got := st.sensitive(p, status)
			want := false
			lp := strings.ToLower(p)
			for _, x := range st.paths {
				if strings.Contains(lp, x) {
					want = true
				}
			}
			if status >= 400 {
				for _, x := range backupSuffixes {
					if strings.HasSuffix(lp, x) {
						want = true
					}
				}
			}
			if got != want {
				t.Errorf("sensitive(%q, %d) = %v, want %v", p, status, got, want)
			}
		}
	}
}

func TestAttackRuleCountsOnlyBlockedEvents(t *testing.T) {
	g, _ := New(Options{}, nil, nil)
	addr := "198.51.100.44"
	for i := 0; i < 20; i++ {
		g.Observe(event.Event{Kind: event.SQLi, Action: event.Logged, IP: addr, Rule: "942100"})
	}
	if _, ok := g.Store().IsBanned(netip.MustParseAddr(addr), time.Now()); ok {
		t.Fatal("detect-mode (logged) attacks led to a ban")
	}
	for i := 0; i < 10; i++ {
		g.Observe(event.Event{Kind: event.SQLi, Action: event.Blocked, IP: addr, Rule: "942100"})
	}
	if b, ok := g.Store().IsBanned(netip.MustParseAddr(addr), time.Now()); !ok || b.Rule != "attacks" {
		t.Fatalf("10 blocked attacks: ban %+v", b)
	}
}

// One blocked request trips several CRS rules and detectors, each its own event with the
// request's arrival time: it is one strike. Ten requests ban, however their events interleave.
func TestAttackRuleCountsRequestsNotRuleMatches(t *testing.T) {
	g, _ := New(Options{}, nil, nil)
	addr := "198.51.100.45"
	banned := func() bool {
		_, ok := g.Store().IsBanned(netip.MustParseAddr(addr), time.Now())
		return ok
	}
	base := time.Now().UTC()
	req := func(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
	for i := 0; i < 25; i++ { // request 1: 25 rule matches
		g.Observe(event.Event{TS: req(1), Kind: event.SQLi, Action: event.Blocked, IP: addr, Rule: "942100"})
	}
	if banned() {
		t.Fatal("one blocked request with 25 rule matches led to a ban")
	}
	// Requests 2..9 in pairs whose events interleave.
	for n := 2; n < 10; n += 2 {
		for _, ts := range []time.Time{req(n), req(n + 1), req(n), req(n + 1), req(n)} {
			g.Observe(event.Event{TS: ts, Kind: event.XSS, Action: event.Blocked, IP: addr, Rule: "941100"})
		}
	}
	if banned() {
		t.Fatal("banned after 9 requests")
	}
	g.Observe(event.Event{TS: req(10), Kind: event.Traversal, Action: event.Blocked, IP: addr, Rule: "930100"})
	if b, ok := g.Store().IsBanned(netip.MustParseAddr(addr), time.Now()); !ok || b.Rule != "attacks" || !strings.Contains(b.Reason, "10 requests") {
		t.Fatalf("10 blocked requests: ban %+v", b)
	}
}
