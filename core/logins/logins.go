// Package logins watches the logins apps report (ctx.security.loginFailed / loginSucceeded /
// accountChanged) for the patterns the appliance cannot see in raw traffic: failed logins per
// address and per account, credential stuffing (many accounts failing from one address),
// password spraying (many accounts failing across the app), a login from an address never
// seen for that account, and account changes. Each finding is an event; the guard's ban
// rules consume those events. It keeps no passwords and nothing on disk.
package logins

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"bulwark/core/event"
)

// Threshold is "Max within Window".
type Threshold struct {
	Max    int
	Window time.Duration
}

// Options tunes the detectors; zero fields take the defaults.
type Options struct {
	UserFailures  Threshold // failures on one account (from anywhere): account under attack
	StuffingUsers Threshold // distinct accounts failing from one address
	SprayUsers    Threshold // distinct accounts failing app-wide
	KnownIPs      int       // addresses remembered per account (oldest forgotten first)
	Now           func() time.Time
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		UserFailures:  Threshold{Max: 5, Window: 10 * time.Minute},
		StuffingUsers: Threshold{Max: 5, Window: 10 * time.Minute},
		SprayUsers:    Threshold{Max: 20, Window: 10 * time.Minute},
		KnownIPs:      32,
		Now:           time.Now,
	}
}

// Monitor holds the login history in memory. Safe for concurrent use.
type Monitor struct {
	opts Options
	sink event.Sink

	mu        sync.Mutex
	userFails map[string][]time.Time          // app\x00user → failure times
	ipUsers   map[string]map[string]time.Time // app\x00ip → user → last failure
	appUsers  map[string]map[string]time.Time // app → user → last failure
	known     map[string][]string             // app\x00user → addresses that logged in
	sprayed   map[string]time.Time            // app → last spray alert
	calls     int
}

// New returns a monitor emitting to sink.
func New(opts Options, sink event.Sink) (*Monitor, error) {
	def := DefaultOptions()
	if opts.UserFailures == (Threshold{}) {
		opts.UserFailures = def.UserFailures
	}
	if opts.StuffingUsers == (Threshold{}) {
		opts.StuffingUsers = def.StuffingUsers
	}
	if opts.SprayUsers == (Threshold{}) {
		opts.SprayUsers = def.SprayUsers
	}
	if opts.KnownIPs == 0 {
		opts.KnownIPs = def.KnownIPs
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for name, t := range map[string]Threshold{"user_failures": opts.UserFailures, "stuffing_users": opts.StuffingUsers, "spray_users": opts.SprayUsers} {
		if t.Max < 1 || t.Window <= 0 {
			return nil, fmt.Errorf("guard.logins.%s: needs max ≥ 1 and a positive window, got %d and %s", name, t.Max, t.Window)
		}
	}
	if sink == nil {
		sink = event.Discard
	}
	return &Monitor{opts: opts, sink: sink, userFails: map[string][]time.Time{}, ipUsers: map[string]map[string]time.Time{},
		appUsers: map[string]map[string]time.Time{}, known: map[string][]string{}, sprayed: map[string]time.Time{}}, nil
}

func cleanIP(ip string) string {
	if a, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil {
		return a.Unmap().String()
	}
	return ""
}

func cleanUser(u string) string {
	u = strings.TrimSpace(u)
	if len(u) > 128 {
		u = u[:128]
	}
	return u
}

func (m *Monitor) emit(kind event.Kind, sev event.Severity, action event.Action, ip, app, rule string, detail map[string]any) {
	m.sink.Emit(event.Event{TS: m.opts.Now().UTC(), Kind: kind, Severity: sev, Action: action, IP: ip, App: app, Rule: rule, Detail: event.DetailJSON(detail)})
}

// LoginFailed records a failed login of user on app from ip and emits a login_failed event.
func (m *Monitor) LoginFailed(ip, app, user string) { m.failed(ip, app, user, true) }

func (m *Monitor) failed(ip, app, user string, emitBase bool) {
	ip, user = cleanIP(ip), cleanUser(user)
	now := m.opts.Now()
	if emitBase {
		m.emit(event.LoginFailed, event.Low, event.Logged, ip, app, "login-failed", map[string]any{"user": user})
	}
	m.mu.Lock()
	m.sweepLocked(now)
	// Per account.
	uk := app + "\x00" + user
	fails := append(prune(m.userFails[uk], now.Add(-m.opts.UserFailures.Window)), now)
	m.userFails[uk] = fails
	accountHit := len(fails) == m.opts.UserFailures.Max
	// Distinct accounts from this address.
	var stuffing int
	if ip != "" {
		ik := app + "\x00" + ip
		users := m.ipUsers[ik]
		if users == nil {
			users = map[string]time.Time{}
			m.ipUsers[ik] = users
		}
		users[user] = now
		stuffing = distinctSince(users, now.Add(-m.opts.StuffingUsers.Window))
	}
	// Distinct accounts app-wide.
	au := m.appUsers[app]
	if au == nil {
		au = map[string]time.Time{}
		m.appUsers[app] = au
	}
	au[user] = now
	spray := distinctSince(au, now.Add(-m.opts.SprayUsers.Window))
	sprayHit := spray >= m.opts.SprayUsers.Max && now.Sub(m.sprayed[app]) > m.opts.SprayUsers.Window
	if sprayHit {
		m.sprayed[app] = now
	}
	m.mu.Unlock()

	if accountHit {
		m.emit(event.LoginFailed, event.Medium, event.Logged, ip, app, "account-under-attack",
			map[string]any{"user": user, "failures": len(fails), "window": m.opts.UserFailures.Window.String()})
	}
	if stuffing >= m.opts.StuffingUsers.Max {
		// Every further account tried from the address is reported: each is more evidence.
		m.emit(event.CredentialStuffing, event.High, event.Logged, ip, app, "many-accounts-one-address",
			map[string]any{"accounts": stuffing, "window": m.opts.StuffingUsers.Window.String(), "last_user": user})
	}
	if sprayHit {
		m.emit(event.CredentialStuffing, event.High, event.Logged, ip, app, "password-spray",
			map[string]any{"accounts": spray, "window": m.opts.SprayUsers.Window.String()})
	}
}

// LoginSucceeded records a successful login; the first login of an account from an address
// it has used before is silent, a new address for a known account is an event.
func (m *Monitor) LoginSucceeded(ip, app, user string) {
	ip, user = cleanIP(ip), cleanUser(user)
	if ip == "" {
		return
	}
	uk := app + "\x00" + user
	m.mu.Lock()
	ips := m.known[uk]
	seen := false
	for _, x := range ips {
		if x == ip {
			seen = true
			break
		}
	}
	newIP := !seen && len(ips) > 0
	if !seen {
		ips = append(ips, ip)
		if len(ips) > m.opts.KnownIPs {
			ips = ips[len(ips)-m.opts.KnownIPs:]
		}
		m.known[uk] = ips
	}
	delete(m.userFails, uk)
	m.mu.Unlock()
	if newIP {
		m.emit(event.LoginNewIP, event.Medium, event.Logged, ip, app, "login-new-ip", map[string]any{"user": user, "known_addresses": len(ips) - 1})
	}
}

// AccountChanged records a change to an account (password, e-mail, 2FA …).
func (m *Monitor) AccountChanged(ip, app, user, field string) {
	m.emit(event.AccountChanged, event.Medium, event.Logged, cleanIP(ip), app, "account-changed",
		map[string]any{"user": cleanUser(user), "field": cleanUser(field)})
}

// KnownIPs returns the addresses each account has logged in from (key "app/user"), for saving.
func (m *Monitor) KnownIPs() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.known))
	for k, v := range m.known {
		out[strings.Replace(k, "\x00", "/", 1)] = append([]string(nil), v...)
	}
	return out
}

// LoadKnownIPs restores what KnownIPs returned.
func (m *Monitor) LoadKnownIPs(saved map[string][]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range saved {
		app, user, ok := strings.Cut(k, "/")
		if ok {
			m.known[app+"\x00"+user] = append([]string(nil), v...)
		}
	}
}

func prune(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	return ts[i:]
}

func distinctSince(m map[string]time.Time, cut time.Time) int {
	n := 0
	for k, t := range m {
		if t.After(cut) {
			n++
		} else {
			delete(m, k)
		}
	}
	return n
}

// sweepLocked forgets idle entries now and then so memory follows the active attackers.
func (m *Monitor) sweepLocked(now time.Time) {
	m.calls++
	if m.calls%1024 != 0 {
		return
	}
	longest := max(m.opts.UserFailures.Window, m.opts.StuffingUsers.Window, m.opts.SprayUsers.Window)
	cut := now.Add(-longest)
	for k, v := range m.userFails {
		if len(prune(v, cut)) == 0 {
			delete(m.userFails, k)
		}
	}
	for k, v := range m.ipUsers {
		if distinctSince(v, cut) == 0 {
			delete(m.ipUsers, k)
		}
	}
}

// AppSignalRule is the rule name the sandbox gives the events of ctx.security calls; Run
// consumes those (their login_failed event already exists, so it is not emitted again).
const AppSignalRule = "app_signal"

// Run feeds the monitor from the app-signal events on the bus until ctx ends or sub closes.
func (m *Monitor) Run(ctx context.Context, sub *event.Subscription) { sub.Each(ctx, m.observe) }

// observe takes one app-signal event.
func (m *Monitor) observe(e event.Event) {
	if e.Rule != AppSignalRule {
		return
	}
	var d struct {
		User string `json:"user"`
	}
	json.Unmarshal(e.Detail, &d)
	switch e.Kind {
	case event.LoginFailed:
		m.failed(e.IP, e.App, d.User, false)
	case "login_succeeded":
		m.LoginSucceeded(e.IP, e.App, d.User)
	}
}
