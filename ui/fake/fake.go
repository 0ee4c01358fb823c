// Package fake is an in-memory appliance for the console's headless tests and its --demo
// mode. It implements source.Appliance and source.Connector, records every call that would
// change the appliance, and can be made slow or dead to test how the console copes.
package fake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"bulwark/core/event"
	"bulwark/ui/source"
)

// Call is one recorded mutating call.
type Call struct {
	Method string
	Args   []any
}

// Appliance is the fake. Its zero value is not usable: use New.
type Appliance struct {
	mu       sync.Mutex
	now      func() time.Time
	events   []event.Event // oldest first
	access   source.AccessLists
	apps     []source.App
	versions map[string][]source.AppVersion
	policies source.Policies
	rules    []source.AlertRule
	channels []source.Channel
	alerts   []source.Alert
	clients  []source.Client
	calls    []Call
	stream   chan event.Event
	delay    time.Duration
	dead     bool
	refuse   map[string]error // method → the error its next call returns
	totalCap int
	nextID   int64
}

// New returns a fake holding a day of generated traffic ending at now.
func New(now time.Time) *Appliance {
	a := &Appliance{
		now:      func() time.Time { return now },
		versions: map[string][]source.AppVersion{},
		stream:   make(chan event.Event, 64),
	}
	a.seed(now)
	return a
}

// SetClock replaces the fake's clock (the demo uses the real one).
func (a *Appliance) SetClock(now func() time.Time) { a.mu.Lock(); a.now = now; a.mu.Unlock() }

// SetDelay makes every call wait d first (or until its context ends).
func (a *Appliance) SetDelay(d time.Duration) { a.mu.Lock(); a.delay = d; a.mu.Unlock() }

// SetDead makes every call fail as an unreachable appliance would.
func (a *Appliance) SetDead(dead bool) { a.mu.Lock(); a.dead = dead; a.mu.Unlock() }

// Calls returns the mutating calls received so far.
func (a *Appliance) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// Push delivers e on the live stream (and stores it), as a new verdict on the appliance would.
// Like the appliance, it drops the live copy rather than wait for a slow reader.
func (a *Appliance) Push(e event.Event) {
	a.mu.Lock()
	a.nextID++
	e.ID = a.nextID
	a.events = append(a.events, e)
	ch := a.stream
	a.mu.Unlock()
	if ch != nil {
		select {
		case ch <- e:
		default:
		}
	}
}

// EndStream closes the live stream, as a dropped connection would.
func (a *Appliance) EndStream() {
	a.mu.Lock()
	ch := a.stream
	a.stream = nil
	a.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// FireAlert adds an unacknowledged alert to the history.
func (a *Appliance) FireAlert(rule, summary string, sev event.Severity) source.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nextID++
	al := source.Alert{ID: a.nextID, Rule: rule, Fired: a.now(), Severity: sev, Summary: summary}
	a.alerts = append([]source.Alert{al}, a.alerts...)
	return al
}

// wait applies the configured delay and deadness, and records the call if it mutates.
func (a *Appliance) wait(ctx context.Context, method string, mutates bool, args ...any) error {
	a.mu.Lock()
	d, dead := a.delay, a.dead
	a.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", method, ctx.Err())
		case <-t.C:
		}
	}
	if dead {
		return fmt.Errorf("%s: dial 127.0.0.1:9443: connection refused: %w", method, source.ErrUnreachable)
	}
	a.mu.Lock()
	refused := a.refuse[method]
	delete(a.refuse, method)
	if mutates && refused == nil {
		a.calls = append(a.calls, Call{Method: method, Args: args})
	}
	a.mu.Unlock()
	return refused
}

// Refuse makes the next call of method fail with err (e.g. a *source.FieldError, as the
// appliance's validation would); the refused call is not recorded.
func (a *Appliance) Refuse(method string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse == nil {
		a.refuse = map[string]error{}
	}
	a.refuse[method] = err
}

// Status implements source.Appliance.
func (a *Appliance) Status(ctx context.Context) (source.Status, error) {
	if err := a.wait(ctx, "Status", false); err != nil {
		return source.Status{}, err
	}
	return source.Status{Name: "demo-appliance", Version: "v0.9.0-demo", Uptime: 26 * time.Hour}, nil
}

// Events implements source.Appliance.
func (a *Appliance) Events(ctx context.Context, f source.EventFilter) (source.EventPage, error) {
	if err := a.wait(ctx, "Events", false); err != nil {
		return source.EventPage{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var match []event.Event
	for i := len(a.events) - 1; i >= 0; i-- {
		e := a.events[i]
		if matches(e, f) {
			match = append(match, e)
		}
	}
	page := source.EventPage{Total: len(match)}
	if a.totalCap > 0 && page.Total > a.totalCap {
		page.Total, page.TotalCapped = a.totalCap, true
	}
	lim := f.Limit
	if lim <= 0 {
		lim = 100
	}
	if f.Offset < len(match) {
		page.Events = match[f.Offset:min(len(match), f.Offset+lim)]
	}
	page.More = f.Offset+lim < len(match)
	return page, nil
}

// SetTotalCap makes event pages count at most n matches and say so (TotalCapped), as the
// appliance does for expensive filters; 0 counts everything.
func (a *Appliance) SetTotalCap(n int) { a.mu.Lock(); a.totalCap = n; a.mu.Unlock() }

func matches(e event.Event, f source.EventFilter) bool {
	switch {
	case !f.Since.IsZero() && e.TS.Before(f.Since),
		!f.Until.IsZero() && !e.TS.Before(f.Until),
		f.Kind != "" && e.Kind != f.Kind,
		f.Severity != "" && e.Severity != f.Severity,
		f.Action != "" && e.Action != f.Action,
		f.IP != "" && e.IP != f.IP,
		f.App != "" && e.App != f.App,
		f.Rule != "" && e.Rule != f.Rule:
		return false
	}
	if f.Text != "" {
		b, _ := json.Marshal(e)
		return strings.Contains(strings.ToLower(string(b)), strings.ToLower(f.Text))
	}
	return true
}

// Stats implements source.Appliance.
func (a *Appliance) Stats(ctx context.Context, since time.Time, bucket time.Duration) ([]source.StatBucket, error) {
	if err := a.wait(ctx, "Stats", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	type key struct {
		t time.Time
		k event.Kind
		a event.Action
	}
	counts := map[key]int{}
	for _, e := range a.events {
		if e.TS.Before(since) {
			continue
		}
		counts[key{e.TS.Truncate(bucket), e.Kind, e.Action}]++
	}
	out := make([]source.StatBucket, 0, len(counts))
	for k, n := range counts {
		b := source.StatBucket{Start: k.t, Kind: k.k, Count: n}
		if k.a == event.Blocked {
			b.Blocked = n
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Blocked < out[j].Blocked
	})
	return out, nil
}

// Top implements source.Appliance.
func (a *Appliance) Top(ctx context.Context, what source.TopKind, since time.Time, n int) ([]source.TopEntry, error) {
	if err := a.wait(ctx, "Top", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	counts := map[string]int{}
	for _, e := range a.events {
		if e.TS.Before(since) {
			continue
		}
		v := map[source.TopKind]string{source.TopIPs: e.IP, source.TopRules: e.Rule, source.TopPaths: e.Path}[what]
		if v != "" {
			counts[v]++
		}
	}
	out := make([]source.TopEntry, 0, len(counts))
	for v, c := range counts {
		out = append(out, source.TopEntry{Value: v, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Stream implements source.Appliance. There is one stream; a second caller shares it.
func (a *Appliance) Stream(ctx context.Context) (<-chan event.Event, error) {
	if err := a.wait(ctx, "Stream", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stream == nil {
		return nil, errors.New("stream ended")
	}
	return a.stream, nil
}

// Access implements source.Appliance.
func (a *Appliance) Access(ctx context.Context) (source.AccessLists, error) {
	if err := a.wait(ctx, "Access", false); err != nil {
		return source.AccessLists{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := source.AccessLists{
		Allow: append([]source.AccessEntry(nil), a.access.Allow...),
		Deny:  append([]source.AccessEntry(nil), a.access.Deny...),
	}
	for _, b := range a.access.Bans {
		if b.Until.After(now) {
			out.Bans = append(out.Bans, b)
		}
	}
	return out, nil
}

// AddAccess implements source.Appliance.
func (a *Appliance) AddAccess(ctx context.Context, list source.List, cidr, note string) error {
	if err := a.wait(ctx, "AddAccess", true, list, cidr, note); err != nil {
		return err
	}
	if _, err := netip.ParsePrefix(cidr); err != nil {
		if _, err2 := netip.ParseAddr(cidr); err2 != nil {
			return fmt.Errorf("%q is not an IP or CIDR", cidr)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := source.AccessEntry{CIDR: cidr, Note: note, Added: a.now()}
	if list == source.Allowlist {
		a.access.Allow = append(a.access.Allow, e)
	} else {
		a.access.Deny = append(a.access.Deny, e)
	}
	return nil
}

// RemoveAccess implements source.Appliance.
func (a *Appliance) RemoveAccess(ctx context.Context, list source.List, cidr string) error {
	if err := a.wait(ctx, "RemoveAccess", true, list, cidr); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	drop := func(l []source.AccessEntry) []source.AccessEntry {
		var out []source.AccessEntry
		for _, e := range l {
			if e.CIDR != cidr {
				out = append(out, e)
			}
		}
		return out
	}
	if list == source.Allowlist {
		a.access.Allow = drop(a.access.Allow)
	} else {
		a.access.Deny = drop(a.access.Deny)
	}
	return nil
}

// Ban implements source.Appliance.
func (a *Appliance) Ban(ctx context.Context, ip string, d time.Duration, reason string) error {
	if err := a.wait(ctx, "Ban", true, ip, d, reason); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.access.Bans = append(a.access.Bans, source.BanEntry{IP: ip, Reason: reason, Until: a.now().Add(d)})
	return nil
}

// Unban implements source.Appliance.
func (a *Appliance) Unban(ctx context.Context, ip string) error {
	if err := a.wait(ctx, "Unban", true, ip); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []source.BanEntry
	for _, b := range a.access.Bans {
		if b.IP != ip {
			out = append(out, b)
		}
	}
	a.access.Bans = out
	return nil
}

// Apps implements source.Appliance.
func (a *Appliance) Apps(ctx context.Context) ([]source.App, error) {
	if err := a.wait(ctx, "Apps", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]source.App(nil), a.apps...), nil
}

// DeployError is returned by Deploy for paths containing "broken", to show full errors.
const DeployError = "bundle shop: src/index.ts:12:7: ERROR: Could not resolve \"left-pad\"\nsrc/index.ts:30:1: ERROR: Expected \";\" but found \"}\""

// Deploy implements source.Appliance.
func (a *Appliance) Deploy(ctx context.Context, path string, progress func(source.DeployStep)) (source.App, error) {
	if err := a.wait(ctx, "Deploy", true, path); err != nil {
		return source.App{}, err
	}
	steps := []string{"upload", "bundle", "check", "activate"}
	for i, s := range steps {
		progress(source.DeployStep{Step: s, Fraction: float64(i) / float64(len(steps)), Message: s + "…"})
		if strings.Contains(path, "broken") && s == "bundle" {
			return source.App{}, errors.New(DeployError)
		}
	}
	name := path[strings.LastIndexAny(path, "/\\")+1:]
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".tar.gz"), ".zip")
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.apps {
		if a.apps[i].Name == name {
			a.apps[i].Version = nextVersion(a.apps[i].Version)
			a.versions[name] = append(a.versions[name], source.AppVersion{Version: a.apps[i].Version, Deployed: a.now(), By: "console"})
			progress(source.DeployStep{Step: "done", Fraction: 1, Message: "deployed"})
			return a.apps[i], nil
		}
	}
	app := source.App{Name: name, Version: "1", Enabled: true, Status: "running", Routes: []string{"/" + name + "/*"}, Limits: defaultLimits()}
	a.apps = append(a.apps, app)
	a.versions[name] = []source.AppVersion{{Version: "1", Deployed: a.now(), By: "console"}}
	progress(source.DeployStep{Step: "done", Fraction: 1, Message: "deployed"})
	return app, nil
}

// Versions implements source.Appliance.
func (a *Appliance) Versions(ctx context.Context, app string) ([]source.AppVersion, error) {
	if err := a.wait(ctx, "Versions", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := ""
	for _, x := range a.apps {
		if x.Name == app {
			cur = x.Version
		}
	}
	var out []source.AppVersion
	for _, v := range a.versions[app] {
		v.Current = v.Version == cur
		out = append([]source.AppVersion{v}, out...)
	}
	return out, nil
}

// Rollback implements source.Appliance.
func (a *Appliance) Rollback(ctx context.Context, app string, version string) error {
	if err := a.wait(ctx, "Rollback", true, app, version); err != nil {
		return err
	}
	return a.editApp(app, func(x *source.App) { x.Version = version })
}

// SetLimits implements source.Appliance.
func (a *Appliance) SetLimits(ctx context.Context, app string, l source.Limits) error {
	if err := a.wait(ctx, "SetLimits", true, app, l); err != nil {
		return err
	}
	return a.editApp(app, func(x *source.App) { x.Limits = l })
}

// SetEnabled implements source.Appliance.
func (a *Appliance) SetEnabled(ctx context.Context, app string, on bool) error {
	if err := a.wait(ctx, "SetEnabled", true, app, on); err != nil {
		return err
	}
	return a.editApp(app, func(x *source.App) {
		x.Enabled = on
		x.Status = map[bool]string{true: "running", false: "stopped"}[on]
	})
}

func (a *Appliance) editApp(name string, f func(*source.App)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.apps {
		if a.apps[i].Name == name {
			f(&a.apps[i])
			return nil
		}
	}
	return fmt.Errorf("no app named %q", name)
}

// AppLog implements source.Appliance.
func (a *Appliance) AppLog(ctx context.Context, app string, lines int) ([]string, error) {
	if err := a.wait(ctx, "AppLog", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	now := a.now()
	a.mu.Unlock()
	var out []string
	for i := range min(lines, 12) {
		t := now.Add(-time.Duration(12-i) * 37 * time.Second).Format("15:04:05")
		out = append(out, fmt.Sprintf("%s %s[w%d] GET /%s/item/%d 200 %dms", t, app, i%2, app, 100+i, 3+i%5))
	}
	return out, nil
}

// Policies implements source.Appliance.
func (a *Appliance) Policies(ctx context.Context) (source.Policies, error) {
	if err := a.wait(ctx, "Policies", false); err != nil {
		return source.Policies{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.policies
	p.Exclusions = append([]source.WAFExclusion(nil), p.Exclusions...)
	p.HTML.Tags = append([]source.TagRule(nil), p.HTML.Tags...)
	return p, nil
}

// SetHTMLPolicy implements source.Appliance.
func (a *Appliance) SetHTMLPolicy(ctx context.Context, p source.HTMLPolicy) error {
	if err := a.wait(ctx, "SetHTMLPolicy", true, p); err != nil {
		return err
	}
	a.mu.Lock()
	a.policies.HTML = p
	a.mu.Unlock()
	return nil
}

// SetEgress implements source.Appliance.
func (a *Appliance) SetEgress(ctx context.Context, app string, hosts []string) error {
	if err := a.wait(ctx, "SetEgress", true, app, hosts); err != nil {
		return err
	}
	return a.editApp(app, func(x *source.App) { x.Egress = hosts })
}

// SetWAF implements source.Appliance.
func (a *Appliance) SetWAF(ctx context.Context, w source.WAFSettings) error {
	if err := a.wait(ctx, "SetWAF", true, w); err != nil {
		return err
	}
	a.mu.Lock()
	a.policies.WAF = w
	a.mu.Unlock()
	return nil
}

// AddWAFExclusion implements source.Appliance.
func (a *Appliance) AddWAFExclusion(ctx context.Context, x source.WAFExclusion) error {
	if err := a.wait(ctx, "AddWAFExclusion", true, x); err != nil {
		return err
	}
	a.mu.Lock()
	a.policies.Exclusions = append(a.policies.Exclusions, x)
	a.mu.Unlock()
	return nil
}

// RemoveWAFExclusion implements source.Appliance.
func (a *Appliance) RemoveWAFExclusion(ctx context.Context, x source.WAFExclusion) error {
	if err := a.wait(ctx, "RemoveWAFExclusion", true, x); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []source.WAFExclusion
	for _, y := range a.policies.Exclusions {
		if y != x {
			out = append(out, y)
		}
	}
	a.policies.Exclusions = out
	return nil
}

// SetHeadersProfile implements source.Appliance.
func (a *Appliance) SetHeadersProfile(ctx context.Context, profile string) error {
	if err := a.wait(ctx, "SetHeadersProfile", true, profile); err != nil {
		return err
	}
	a.mu.Lock()
	a.policies.HeadersProfile = profile
	a.mu.Unlock()
	return nil
}

// AlertRules implements source.Appliance.
func (a *Appliance) AlertRules(ctx context.Context) ([]source.AlertRule, error) {
	if err := a.wait(ctx, "AlertRules", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]source.AlertRule(nil), a.rules...), nil
}

// SaveAlertRule implements source.Appliance.
func (a *Appliance) SaveAlertRule(ctx context.Context, r source.AlertRule) error {
	if err := a.wait(ctx, "SaveAlertRule", true, r); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.rules {
		if (r.ID != "" && a.rules[i].ID == r.ID) || (r.ID == "" && a.rules[i].Name == r.Name) {
			r.ID = a.rules[i].ID
			a.rules[i] = r
			return nil
		}
	}
	a.nextID++
	r.ID = fmt.Sprintf("r%d", a.nextID)
	a.rules = append(a.rules, r)
	return nil
}

// DeleteAlertRule implements source.Appliance.
func (a *Appliance) DeleteAlertRule(ctx context.Context, name string) error {
	if err := a.wait(ctx, "DeleteAlertRule", true, name); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []source.AlertRule
	for _, r := range a.rules {
		if r.Name != name {
			out = append(out, r)
		}
	}
	a.rules = out
	return nil
}

// Channels implements source.Appliance.
func (a *Appliance) Channels(ctx context.Context) ([]source.Channel, error) {
	if err := a.wait(ctx, "Channels", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]source.Channel, len(a.channels))
	for i, c := range a.channels {
		out[i] = redact(c)
	}
	return out, nil
}

// redact drops secrets as the appliance does when it lists channels: they are write-only.
func redact(c source.Channel) source.Channel {
	if w := c.Webhook; w != nil {
		cp := *w
		cp.SecretSet, cp.Secret = w.SecretSet || w.Secret != "", ""
		c.Webhook = &cp
	}
	if m := c.Email; m != nil {
		cp := *m
		cp.PasswordSet, cp.Password = m.PasswordSet || m.Password != "", ""
		c.Email = &cp
	}
	return c
}

// Channel returns the channel as stored, secrets included (for tests).
func (a *Appliance) Channel(name string) (source.Channel, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.channels {
		if c.Name == name {
			return c, true
		}
	}
	return source.Channel{}, false
}

// SaveChannel implements source.Appliance.
func (a *Appliance) SaveChannel(ctx context.Context, c source.Channel) error {
	if err := a.wait(ctx, "SaveChannel", true, c); err != nil {
		return err
	}
	if m := c.Email; m != nil {
		// Like the appliance: the three transport securities, implicit TLS never with plain text.
		switch m.Security {
		case source.SecuritySTARTTLS, source.SecurityTLS, source.SecurityNone:
		default:
			return &source.FieldError{Field: "smtp.tls", Message: fmt.Sprintf("unknown mail security %q (starttls, tls or none)", m.Security)}
		}
		if m.Security == source.SecurityNone && (m.Password != "" || m.PasswordSet) {
			return &source.FieldError{Field: "smtp.insecure", Message: "a password is never sent without TLS"}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.channels {
		if a.channels[i].Name == c.Name {
			a.channels[i] = c
			return nil
		}
	}
	a.channels = append(a.channels, c)
	return nil
}

// DeleteChannel implements source.Appliance; like the appliance it refuses a channel a rule
// uses.
func (a *Appliance) DeleteChannel(ctx context.Context, name string) error {
	if err := a.wait(ctx, "DeleteChannel", true, name); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var users []string
	for _, r := range a.rules {
		for _, c := range r.Channels {
			if c == name {
				users = append(users, r.Name)
			}
		}
	}
	if len(users) > 0 {
		return &source.FieldError{Field: "name", Message: fmt.Sprintf("channel %q is used by rules %v: change them first", name, users)}
	}
	for i, c := range a.channels {
		if c.Name == name {
			a.channels = append(a.channels[:i], a.channels[i+1:]...)
			return nil
		}
	}
	return &source.FieldError{Field: "name", Message: fmt.Sprintf("no alert channel %q", name)}
}

// TestChannel implements source.Appliance.
func (a *Appliance) TestChannel(ctx context.Context, name string) error {
	return a.wait(ctx, "TestChannel", true, name)
}

// AlertHistory implements source.Appliance.
func (a *Appliance) AlertHistory(ctx context.Context, limit int) ([]source.Alert, error) {
	if err := a.wait(ctx, "AlertHistory", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]source.Alert(nil), a.alerts[:min(limit, len(a.alerts))]...), nil
}

// Acknowledge implements source.Appliance.
func (a *Appliance) Acknowledge(ctx context.Context, id int64) error {
	if err := a.wait(ctx, "Acknowledge", true, id); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.alerts {
		if a.alerts[i].ID == id {
			a.alerts[i].Acked, a.alerts[i].AckedBy = true, "console"
			return nil
		}
	}
	return fmt.Errorf("no alert %d", id)
}

// Clients implements source.Appliance.
func (a *Appliance) Clients(ctx context.Context) ([]source.Client, error) {
	if err := a.wait(ctx, "Clients", false); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]source.Client(nil), a.clients...), nil
}

// IssueClient implements source.Appliance: the bundle is a real one from a throwaway CA.
func (a *Appliance) IssueClient(ctx context.Context, name string) ([]byte, error) {
	if err := a.wait(ctx, "IssueClient", true, name); err != nil {
		return nil, err
	}
	b, err := NewBundle(name, "127.0.0.1:9443", time.Now().Add(365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.clients = append(a.clients, source.Client{Name: name, Serial: fmt.Sprintf("%x", len(a.clients)+100), Issued: a.now(), Expires: a.now().AddDate(1, 0, 0)})
	a.mu.Unlock()
	return json.MarshalIndent(b, "", "  ")
}

// RevokeClient implements source.Appliance.
func (a *Appliance) RevokeClient(ctx context.Context, name string) error {
	if err := a.wait(ctx, "RevokeClient", true, name); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.clients {
		if a.clients[i].Name == name {
			a.clients[i].Revoked = true
			return nil
		}
	}
	return fmt.Errorf("no client %q", name)
}

// Close implements source.Appliance.
func (a *Appliance) Close() error { return nil }

func nextVersion(v string) string {
	n, _ := strconv.Atoi(v)
	return strconv.Itoa(n + 1)
}

func defaultLimits() source.Limits {
	return source.Limits{MemoryMB: 128, CPUMs: 50, WallMs: 5000, Workers: 2, Concurrency: 16,
		RequestBodyKB: 1024, ResponseBodyKB: 8192, Subrequests: 10, KVQuotaKB: 10240}
}

// seed fills the fake with a plausible day: steady background probes and a few attack waves.
func (a *Appliance) seed(now time.Time) {
	r := mrand.New(mrand.NewPCG(7, 11))
	type attack struct {
		kind   event.Kind
		sev    event.Severity
		rule   string
		path   string
		detail string
	}
	attacks := []attack{
		{event.SQLi, event.Critical, "942100", "/shop/search", `{"matched":"1' OR '1'='1","var":"ARGS:q"}`},
		{event.XSS, event.High, "941100", "/blog/comment", `{"matched":"<script>alert(1)</script>","var":"ARGS:body"}`},
		{event.Traversal, event.High, "930100", "/static/../../etc/passwd", `{"matched":"../../","var":"REQUEST_URI"}`},
		{event.Probe, event.Medium, "probe-dotenv", "/.env", `{"matched":"/.env"}`},
		{event.Probe, event.Medium, "probe-git", "/.git/config", `{"matched":"/.git/"}`},
		{event.Scanner, event.Low, "913100", "/", `{"matched":"sqlmap/1.7","var":"REQUEST_HEADERS:User-Agent"}`},
		{event.RateLimit, event.Low, "rate-ip", "/api/login", `{"limit":"20/10s"}`},
		{event.CSRF, event.Medium, "csrf-origin", "/account/email", `{"origin":"https://evil.example"}`},
		{event.LoginFailed, event.Low, "login-failed", "/api/login", `{"user":"admin"}`},
	}
	ips := []string{"203.0.113.7", "198.51.100.23", "192.0.2.44", "203.0.113.99", "198.51.100.5", "2001:db8::1f", "192.0.2.201"}
	apps := []string{"shop", "blog", "api"}
	start := now.Add(-24 * time.Hour)
	for t := start; t.Before(now); t = t.Add(time.Duration(20+r.IntN(90)) * time.Second) {
		n := 1
		if h := now.Sub(t); h < 50*time.Minute && h > 35*time.Minute || h > 6*time.Hour && h < 7*time.Hour {
			n = 4 + r.IntN(8) // attack waves
		}
		for range n {
			at := attacks[r.IntN(len(attacks))]
			act := event.Blocked
			if r.IntN(4) == 0 {
				act = event.Logged
			}
			a.nextID++
			a.events = append(a.events, event.Event{
				ID: a.nextID, TS: t.Add(time.Duration(r.IntN(20)) * time.Second), Kind: at.kind, Severity: at.sev, Action: act,
				IP: ips[r.IntN(len(ips))], Method: []string{"GET", "POST"}[r.IntN(2)], Host: "example.test",
				Path: at.path, App: apps[r.IntN(len(apps))], Rule: at.rule,
				Detail: json.RawMessage(`{"headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64)","Accept":"*/*"},"match":` + at.detail + `}`),
			})
		}
	}
	sort.Slice(a.events, func(i, j int) bool { return a.events[i].TS.Before(a.events[j].TS) })
	for i := range a.events {
		a.events[i].ID = int64(i + 1)
	}
	a.nextID = int64(len(a.events)) + 1000
	a.access = source.AccessLists{
		Allow: []source.AccessEntry{{CIDR: "10.0.0.0/8", Note: "office VPN", Added: now.Add(-30 * 24 * time.Hour)}},
		Deny:  []source.AccessEntry{{CIDR: "198.51.100.0/24", Note: "abuse reports", Added: now.Add(-3 * 24 * time.Hour)}},
		Bans: []source.BanEntry{
			{IP: "203.0.113.7", Reason: "sqli x25 in 1m", Until: now.Add(47 * time.Minute)},
			{IP: "192.0.2.44", Reason: "probe flood", Until: now.Add(6 * time.Hour)},
		},
	}
	a.apps = []source.App{
		{Name: "shop", Version: "3", Enabled: true, Status: "running", Routes: []string{"shop.example.test/*"}, Requests: 184220, Errors: 12, Blocked: 931, Limits: defaultLimits(), Egress: []string{"api.stripe.com"}},
		{Name: "blog", Version: "7", Enabled: true, Status: "running", Routes: []string{"example.test/blog/*"}, Requests: 50211, Errors: 0, Blocked: 402, Limits: defaultLimits()},
		{Name: "api", Version: "2", Enabled: false, Status: "stopped", Routes: []string{"api.example.test/*"}, Requests: 9120, Errors: 3, Blocked: 77, Limits: defaultLimits(), Egress: []string{"hooks.slack.com", "api.github.com"}},
	}
	for _, x := range a.apps {
		n, _ := strconv.Atoi(x.Version)
		for v := 1; v <= n; v++ {
			a.versions[x.Name] = append(a.versions[x.Name], source.AppVersion{Version: strconv.Itoa(v), Deployed: now.Add(-time.Duration(n-v+1) * 26 * time.Hour), By: "ops"})
		}
	}
	a.policies = source.Policies{
		HTML: source.HTMLPolicy{
			Tags: []source.TagRule{
				{Tag: "a", Attrs: []string{"href", "title"}}, {Tag: "b"}, {Tag: "i"}, {Tag: "p"},
				{Tag: "img", Attrs: []string{"src", "alt"}}, {Tag: "ul"}, {Tag: "li"},
			},
			Schemes: []string{"https", "mailto"},
		},
		WAF:            source.WAFSettings{Mode: "block", Paranoia: 1},
		Exclusions:     []source.WAFExclusion{{Rule: "942430", Path: "/shop/search", App: "shop"}},
		HeadersProfile: "strict",
		HeadersChoices: []string{"strict", "standard", "relaxed", "off"},
	}
	a.rules = []source.AlertRule{
		{ID: "r1", Name: "sqli burst", Type: source.RuleThreshold, Kind: event.SQLi, MinSeverity: event.High, Threshold: 10, Window: time.Minute,
			GroupBy: "ip", Channels: []string{"ops-webhook"}, Enabled: true},
		{ID: "r2", Name: "probe spike", Type: source.RuleSpike, Kind: event.Probe, MinSeverity: event.Low, Factor: 4, MinCount: 20,
			Window: 5 * time.Minute, Suppress: 30 * time.Minute, Channels: []string{"ops-mail", "soc-syslog"}, Enabled: true},
		{ID: "r3", Name: "sandbox crash", Type: source.RuleAny, Kind: event.SandboxCrash, MinSeverity: event.Medium, GroupBy: "app",
			Channels: []string{"ops-mail"}, Enabled: true},
	}
	a.channels = []source.Channel{
		{Name: "ops-webhook", Type: source.ChannelWebhook, Target: "https://hooks.example.test/bulwark",
			Webhook: &source.WebhookSettings{URL: "https://hooks.example.test/bulwark", Secret: "demo-secret", Timeout: 5 * time.Second, Retries: 3}},
		{Name: "ops-mail", Type: source.ChannelEmail, Target: "ops@example.test",
			Email: &source.EmailSettings{Host: "mail.example.test", Port: 587, Security: source.SecuritySTARTTLS, Username: "bulwark",
				Password: "demo-password", From: "bulwark@example.test", To: []string{"ops@example.test"}}},
		{Name: "soc-syslog", Type: source.ChannelSyslog, Target: "tls://siem.example.test:6514",
			Syslog: &source.SyslogSettings{Network: "tls", Host: "siem.example.test", Port: 6514, Facility: 4, AppName: "bulwark"}},
	}
	a.alerts = []source.Alert{
		{ID: 9001, Rule: "sqli burst", Fired: now.Add(-40 * time.Minute), Severity: event.Critical, Summary: "25 sqli events from 203.0.113.7 in 1m"},
		{ID: 9000, Rule: "sandbox crash", Fired: now.Add(-5 * time.Hour), Severity: event.Medium, Summary: "app blog worker crashed (exit 2)", Acked: true, AckedBy: "alice"},
	}
	a.clients = []source.Client{
		{Name: "admin", Serial: "1f", Issued: now.Add(-40 * 24 * time.Hour), Expires: now.Add(325 * 24 * time.Hour)},
		{Name: "alice", Serial: "2a", Issued: now.Add(-10 * 24 * time.Hour), Expires: now.Add(355 * 24 * time.Hour)},
	}
}

// NewBundle makes a real bundle (CA, client certificate and key) from a throwaway CA, valid
// until notAfter (in the past for an expired one). Keys are generated at call time.
func NewBundle(name, addr string, notAfter time.Time) (source.Bundle, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return source.Bundle{}, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bulwark test CA"},
		NotBefore: notAfter.Add(-2 * 365 * 24 * time.Hour), NotAfter: notAfter.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return source.Bundle{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return source.Bundle{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		return source.Bundle{}, err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return source.Bundle{}, err
	}
	return source.Bundle{Name: name, Addr: addr,
		CAPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})),
	}, nil
}
