package guard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

// Rule is a fail2ban-style jail fed from events: MaxMatches events of one of Kinds from one IP
// within FindTime ban it for BanTime (longer for repeat offenders, see Options).
type Rule struct {
	Name       string
	Kinds      []event.Kind
	Actions    []event.Action // count only events with one of these actions; empty = any
	MaxMatches int
	FindTime   time.Duration
	BanTime    time.Duration
}

// Recidive bans again, for longer, an address banned MaxBans times within FindTime
// (fail2ban's recidive jail).
type Recidive struct {
	MaxBans  int
	FindTime time.Duration
	BanTime  time.Duration
}

// Options configures a Guard. Zero values mean the defaults of DefaultOptions.
type Options struct {
	Allow, Deny []string // addresses and CIDRs
	Rules       []Rule
	// IncrementFactor multiplies the ban time for each earlier ban of the same address
	// (fail2ban bantime.increment); 1 disables it. MaxBanTime caps the result.
	IncrementFactor float64
	MaxBanTime      time.Duration
	Recidive        Recidive
	Scenarios       Scenarios
	PerIP, PerApp   Rate
	AppRates        map[string]Rate            // per-app overrides of PerApp
	AppOf           func(*http.Request) string // names the app of a request; nil = by Host
	Now             func() time.Time           // for tests; nil = time.Now
}

// DefaultRules are the jails fed from the event bus.
func DefaultRules() []Rule {
	return []Rule{
		// Only blocked attacks: a WAF in detect mode must not ban behind the operator's back.
		{Name: "attacks", Kinds: []event.Kind{event.XSS, event.SQLi, event.Traversal, event.WAF}, Actions: []event.Action{event.Blocked}, MaxMatches: 10, FindTime: 10 * time.Minute, BanTime: 30 * time.Minute},
		{Name: "login-failures", Kinds: []event.Kind{event.LoginFailed}, MaxMatches: 10, FindTime: 10 * time.Minute, BanTime: 30 * time.Minute},
		{Name: "credential-stuffing", Kinds: []event.Kind{event.CredentialStuffing}, MaxMatches: 1, FindTime: time.Minute, BanTime: time.Hour},
		{Name: "csrf", Kinds: []event.Kind{event.CSRF}, MaxMatches: 10, FindTime: 10 * time.Minute, BanTime: 15 * time.Minute},
	}
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		Rules:           DefaultRules(),
		IncrementFactor: 2,
		MaxBanTime:      7 * 24 * time.Hour,
		Recidive:        Recidive{MaxBans: 3, FindTime: 24 * time.Hour, BanTime: 7 * 24 * time.Hour},
		Scenarios:       DefaultScenarios(),
		PerIP:           Rate{PerSecond: 50, Burst: 100},
		PerApp:          Rate{PerSecond: 2000, Burst: 4000},
	}
}

// ErrAllowlisted is returned when a ban targets an allowlisted address.
var ErrAllowlisted = errors.New("address is allowlisted and is never banned")

// Guard holds the lists, the ban store, the rules and the rate limiters.
type Guard struct {
	opts  Options
	lists atomic.Pointer[lists]
	bans  BanStore
	sink  event.Sink
	now   func() time.Time
	// realClock: the request's arrival time (verdict.Info.Start) may stand in for "now",
	// saving clock reads on the hot path (they are slow on some VMs).
	realClock bool

	rules    []*jail
	byKind   map[event.Kind][]*jail
	scen     *scenarioState
	recidive *window

	histMu  sync.Mutex
	history map[netip.Addr][]time.Time // ban times per address, for increments and recidive

	ipRate  *limiter[netip.Addr]
	appRate *limiter[string]

	noticeMu sync.Mutex
	noticed  map[netip.Addr]time.Time // last "blocked while banned" event per address
}

// lists are swapped whole, so a request sees one consistent pair.
type lists struct{ allow, deny *IPList }

func (g *Guard) allowed(a netip.Addr) (string, bool) { return g.lists.Load().allow.Match(a) }

type jail struct {
	Rule
	w *window
}

func (j *jail) counts(a event.Action) bool {
	return len(j.Actions) == 0 || slices.Contains(j.Actions, a)
}

// New validates opts and builds a Guard over store (nil = a fresh MemoryBans). Every error
// names the offending entry.
func New(opts Options, store BanStore, sink event.Sink) (*Guard, error) {
	def := DefaultOptions()
	if opts.Rules == nil {
		opts.Rules = def.Rules
	}
	if opts.IncrementFactor == 0 {
		opts.IncrementFactor = def.IncrementFactor
	}
	if opts.MaxBanTime == 0 {
		opts.MaxBanTime = def.MaxBanTime
	}
	if opts.Recidive == (Recidive{}) {
		opts.Recidive = def.Recidive
	}
	if opts.Scenarios.isZero() {
		opts.Scenarios = def.Scenarios
	}
	if opts.PerIP == (Rate{}) {
		opts.PerIP = def.PerIP
	}
	if opts.PerApp == (Rate{}) {
		opts.PerApp = def.PerApp
	}
	realClock := opts.Now == nil
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if store == nil {
		store = NewMemoryBans()
	}
	if sink == nil {
		sink = event.Discard
	}
	g := &Guard{opts: opts, bans: store, sink: sink, now: opts.Now, realClock: realClock, byKind: map[event.Kind][]*jail{},
		history: map[netip.Addr][]time.Time{}, noticed: map[netip.Addr]time.Time{}}
	if err := g.SetLists(opts.Allow, opts.Deny); err != nil {
		return nil, err
	}
	var err error
	for i, r := range opts.Rules {
		if err := r.validate(fmt.Sprintf("guard.rules[%d]", i)); err != nil {
			return nil, err
		}
		j := &jail{Rule: r, w: newWindow(r.MaxMatches, r.FindTime)}
		g.rules = append(g.rules, j)
		for _, k := range r.Kinds {
			g.byKind[k] = append(g.byKind[k], j)
		}
	}
	if opts.IncrementFactor < 1 {
		return nil, fmt.Errorf("guard.increment_factor: must be at least 1 (1 = no increment), got %g", opts.IncrementFactor)
	}
	if r := opts.Recidive; r.MaxBans < 2 || r.FindTime <= 0 || r.BanTime <= 0 {
		return nil, fmt.Errorf("guard.recidive: needs max_bans ≥ 2 and positive find_time and ban_time, got %d, %s, %s", r.MaxBans, r.FindTime, r.BanTime)
	}
	g.recidive = newWindow(opts.Recidive.MaxBans, opts.Recidive.FindTime)
	if g.scen, err = newScenarios(opts.Scenarios); err != nil {
		return nil, err
	}
	if err := opts.PerIP.validate("guard.rate_limit.per_ip"); err != nil {
		return nil, err
	}
	if err := opts.PerApp.validate("guard.rate_limit.per_app"); err != nil {
		return nil, err
	}
	for app, r := range opts.AppRates {
		if err := r.validate("guard.rate_limit.apps." + app); err != nil {
			return nil, err
		}
	}
	g.ipRate = newLimiter[netip.Addr]()
	g.appRate = newLimiter[string]()
	return g, nil
}

func (r Rule) validate(field string) error {
	switch {
	case strings.TrimSpace(r.Name) == "":
		return fmt.Errorf("%s.name: a rule needs a name", field)
	case len(r.Kinds) == 0:
		return fmt.Errorf("%s (%s).kinds: list the event kinds the rule counts", field, r.Name)
	case r.MaxMatches < 1:
		return fmt.Errorf("%s (%s).max_matches: must be at least 1, got %d", field, r.Name, r.MaxMatches)
	case r.FindTime <= 0:
		return fmt.Errorf("%s (%s).find_time: must be a positive duration, got %s", field, r.Name, r.FindTime)
	case r.BanTime <= 0:
		return fmt.Errorf("%s (%s).ban_time: must be a positive duration, got %s", field, r.Name, r.BanTime)
	}
	for i, k := range r.Kinds {
		if k == event.Banned {
			return fmt.Errorf("%s (%s).kinds[%d]: %q events are the guard's own; use the recidive rule for repeat offenders", field, r.Name, i, k)
		}
	}
	return nil
}

// SetLists replaces the allow and deny lists (live, from the admin API). On error nothing
// changes. Addresses newly allowlisted keep any ban they have until it is lifted, but the
// access stage lets them through at once.
func (g *Guard) SetLists(allow, deny []string) error {
	a, err := ParseIPList("guard.allow", allow)
	if err != nil {
		return err
	}
	d, err := ParseIPList("guard.deny", deny)
	if err != nil {
		return err
	}
	g.lists.Store(&lists{allow: a, deny: d})
	return nil
}

// Lists returns the allow and deny lists as written.
func (g *Guard) Lists() (allow, deny []string) {
	l := g.lists.Load()
	return l.allow.Entries(), l.deny.Entries()
}

// Store returns the ban store (for the admin API: list, unban).
func (g *Guard) Store() BanStore { return g.bans }

// Allowlisted returns the allow entry containing addr, if any.
func (g *Guard) Allowlisted(addr netip.Addr) (string, bool) { return g.allowed(addr) }

// Ban bans addr for d with the offense history applied only when rule is not "manual"
// (a manual ban lasts exactly d). A ban on an allowlisted address is refused.
func (g *Guard) Ban(addr netip.Addr, d time.Duration, rule, reason string) (Ban, error) {
	if !addr.IsValid() {
		return Ban{}, fmt.Errorf("ban: invalid address")
	}
	addr = addr.Unmap()
	if entry, ok := g.allowed(addr); ok {
		return Ban{}, fmt.Errorf("ban %s: %w (guard.allow entry %q); remove it from the allowlist first", addr, ErrAllowlisted, entry)
	}
	if d <= 0 {
		return Ban{}, fmt.Errorf("ban %s: duration must be positive, got %s", addr, d)
	}
	now := g.now()
	offense := g.recordBan(addr, now)
	if rule != "manual" && offense > 1 {
		f := math.Pow(g.opts.IncrementFactor, float64(offense-1))
		if scaled := time.Duration(float64(d) * f); scaled > d && scaled < g.opts.MaxBanTime {
			d = scaled
		} else if scaled >= g.opts.MaxBanTime {
			d = max(d, g.opts.MaxBanTime)
		}
	}
	b := Ban{Addr: addr, Rule: rule, Reason: reason, Created: now, Expires: now.Add(d), Offense: offense}
	if rule != "manual" && rule != "recidive" {
		if _, tripped := g.recidive.add(addr.String(), now); tripped {
			b.Rule, b.Reason = "recidive", fmt.Sprintf("banned %d times within %s; last: %s", g.opts.Recidive.MaxBans, g.opts.Recidive.FindTime, reason)
			if exp := now.Add(g.opts.Recidive.BanTime); exp.After(b.Expires) {
				b.Expires = exp
			}
		}
	}
	if err := g.bans.Ban(b); err != nil {
		return Ban{}, fmt.Errorf("ban %s: %w", addr, err)
	}
	return b, nil
}

// recordBan notes a ban of addr and returns its offense number within MaxBanTime.
func (g *Guard) recordBan(addr netip.Addr, now time.Time) int {
	g.histMu.Lock()
	defer g.histMu.Unlock()
	h := g.history[addr]
	cut := now.Add(-g.opts.MaxBanTime)
	i := 0
	for i < len(h) && h[i].Before(cut) {
		i++
	}
	h = append(h[i:], now)
	if len(h) > 64 {
		h = h[len(h)-64:]
	}
	g.history[addr] = h
	if len(g.history) > 100000 {
		for k, v := range g.history {
			if len(v) == 0 || v[len(v)-1].Before(cut) {
				delete(g.history, k)
			}
		}
	}
	return len(h)
}

// Unban lifts a ban.
func (g *Guard) Unban(addr netip.Addr) (bool, error) { return g.bans.Unban(addr.Unmap()) }

// banAndReport bans addr for a rule and emits the `banned` event; e carries the request fields
// when there is a request.
func (g *Guard) banAndReport(addr netip.Addr, rule string, d time.Duration, reason string, e event.Event) {
	b, err := g.Ban(addr, d, rule, reason)
	if err != nil {
		return // allowlisted: never banned
	}
	e.Kind, e.Severity, e.Action, e.Rule, e.IP = event.Banned, event.High, event.BannedIP, b.Rule, addr.String()
	if e.TS.IsZero() {
		e.TS = g.now().UTC()
	}
	e.Detail = event.DetailJSON(map[string]any{"reason": b.Reason, "until": b.Expires.UTC(), "seconds": int(b.Expires.Sub(b.Created).Seconds()), "offense": b.Offense})
	g.sink.Emit(e)
}

// Observe feeds one event to the rules. Events the guard emits itself are ignored.
func (g *Guard) Observe(e event.Event) {
	jails := g.byKind[e.Kind]
	if len(jails) == 0 || e.IP == "" || strings.HasPrefix(e.Rule, scenarioPrefix) {
		return
	}
	addr, err := netip.ParseAddr(e.IP)
	if err != nil {
		return
	}
	addr = addr.Unmap()
	if _, ok := g.allowed(addr); ok {
		return
	}
	now := g.now()
	for _, j := range jails {
		if !j.counts(e.Action) {
			continue
		}
		// Events of one request share its arrival time (verdict.Event): a blocked request
		// that trips five rules is one strike, not five.
		if n, tripped := j.w.addRequest(addr.String(), now, e.TS); tripped {
			reason := fmt.Sprintf("%d requests with %s events within %s", n, kindsString(j.Kinds), j.FindTime)
			g.banAndReport(addr, j.Name, j.BanTime, reason, event.Event{Method: e.Method, Host: e.Host, Path: e.Path, App: e.App})
		}
	}
}

func kindsString(ks []event.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, "/")
}

// Run consumes events from sub until ctx ends or the subscription closes.
func (g *Guard) Run(ctx context.Context, sub *event.Subscription) { sub.Each(ctx, g.Observe) }

// reqNow is the request's arrival time when the clock is real, else the guard's clock.
func (g *Guard) reqNow(r *http.Request) time.Time {
	if g.realClock {
		if s := verdict.From(r.Context()).Start; !s.IsZero() {
			return s
		}
	}
	return g.now()
}

// clientAddr is the request's client address as the server recorded it.
func clientAddr(r *http.Request) netip.Addr {
	ip := verdict.From(r.Context()).IP
	if ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Access is the ban / allow / deny stage: allowlisted addresses pass untouched, denied and
// banned ones get 403 and a `banned` event, and every response feeds the scenarios.
func (g *Guard) Access() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr := clientAddr(r)
			if _, ok := g.allowed(addr); ok || !addr.IsValid() {
				next.ServeHTTP(w, r)
				return
			}
			if entry, ok := g.lists.Load().deny.Match(addr); ok {
				g.refuse(w, r, addr, "deny-list", "address is on the deny list ("+entry+")")
				return
			}
			if b, ok := g.bans.IsBanned(addr, g.reqNow(r)); ok {
				g.refuse(w, r, addr, b.Rule, "banned until "+b.Expires.UTC().Format(time.RFC3339)+": "+b.Reason)
				return
			}
			if g.scen.scanner(r) {
				g.scannerSeen(r, addr)
			}
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			g.afterResponse(r, addr, sw.status)
		})
	}
}

// refuse answers 403. The `banned` event for a blocked request is emitted at most once per
// address per 30 s, so a banned flood cannot flood the event store.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, addr netip.Addr, rule, why string) {
	verdict.From(r.Context()).Record(event.Banned, event.Blocked, rule, 0)
	now := g.now()
	g.noticeMu.Lock()
	last, seen := g.noticed[addr]
	emit := !seen || now.Sub(last) >= 30*time.Second
	if emit {
		g.noticed[addr] = now
		if len(g.noticed) > 100000 {
			clear(g.noticed)
		}
	}
	g.noticeMu.Unlock()
	if emit {
		g.sink.Emit(verdict.Event(r, event.Banned, event.Medium, event.Blocked, rule, map[string]string{"reason": why}))
	}
	writePage(w, http.StatusForbidden, "Access refused", "Your address may not use this site right now.")
}

// statusWriter records the status code for the scenarios.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		s.wrote = true
		f.Flush()
	}
}
