// Package alerts watches the event stream with operator-defined rules (a count over a
// sliding window, a spike against the previous hour, or any event of a kind), groups and
// suppresses what they find so one attacker makes one alert rather than a thousand, and
// delivers each alert to webhooks, e-mail, syslog and the console's live stream, recording
// every delivery in the alert history. It implements admin.AlertsService.
package alerts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/event"
)

// AlertKind is the event kind the console channel publishes; the engine ignores it as
// input so an alert can never trigger itself.
const AlertKind event.Kind = "alert"

// DefaultSuppress is how long a group stays quiet after it fired, unless the rule says.
const DefaultSuppress = 10 * time.Minute

// maxGroups bounds per-rule group state (one per attacking IP, say): beyond it the stalest
// groups are forgotten, so a spray of addresses cannot exhaust memory.
const maxGroups = 50000

// Options configure an Engine.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// Sink receives the console channel's alert events (usually the event bus).
	Sink event.Sink
	// Hostname names the appliance in messages.
	Hostname string
	// Workers deliver alerts in parallel (default 4).
	Workers int
}

// Engine evaluates rules and delivers alerts.
type Engine struct {
	opt  Options
	log  *slog.Logger
	now  func() time.Time
	jobs chan job
	save chan adminapi.Firing

	mu       sync.Mutex
	rules    map[string]*ruleState
	channels map[string]adminapi.Channel
	history  []*adminapi.Firing // newest last
	byID     map[int64]*adminapi.Firing
	nextID   int64
	wg       sync.WaitGroup
}

type job struct {
	firing  adminapi.Firing
	channel adminapi.Channel
	done    chan adminapi.Delivery // for TestChannel; nil otherwise
}

// ruleState is a rule with its parsed parameters and per-group state.
type ruleState struct {
	rule     adminapi.Rule
	window   time.Duration
	suppress time.Duration
	prefix   netip.Prefix
	minSev   int
	groups   map[string]*group
}

type group struct {
	times     []time.Time      // threshold: the last Threshold matching times
	minutes   map[int64]int    // spike: per-minute counts (Unix minute)
	lastFired time.Time        // suppression
	firing    *adminapi.Firing // the alert later crossings fold into
	lastSeen  time.Time
}

// New loads the engine's state from the store; Start begins delivery.
func New(ctx context.Context, opt Options) (*Engine, error) {
	if opt.Store == nil {
		return nil, errors.New("alerts: a store is required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Sink == nil {
		opt.Sink = event.Discard
	}
	if opt.Workers < 1 {
		opt.Workers = 4
	}
	if opt.Hostname == "" {
		opt.Hostname = "bulwark"
	}
	e := &Engine{opt: opt, log: opt.Logger, now: time.Now, jobs: make(chan job, 1024), save: make(chan adminapi.Firing, 4096),
		rules: map[string]*ruleState{}, channels: map[string]adminapi.Channel{}, byID: map[int64]*adminapi.Firing{}}
	rules, chans, hist, err := opt.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range chans {
		e.channels[c.Name] = c
	}
	for _, r := range rules {
		rs, err := e.compile(r)
		if err != nil {
			e.log.Error("alerts: stored rule is invalid, skipped", "rule", r.ID, "err", err)
			continue
		}
		e.rules[r.ID] = rs
	}
	for i := len(hist) - 1; i >= 0; i-- {
		f := hist[i]
		e.history = append(e.history, &f)
		e.byID[f.ID] = &f
		if f.ID >= e.nextID {
			e.nextID = f.ID
		}
	}
	return e, nil
}

// SetClock replaces the clock (tests).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// Start runs the delivery workers and the persister until ctx ends, and evaluates events
// from sub if it is not nil.
func (e *Engine) Start(ctx context.Context, sub *event.Subscription) {
	for i := 0; i < e.opt.Workers; i++ {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.deliverLoop(ctx)
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.persistLoop(ctx)
	}()
	if sub != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer sub.Close()
			sub.Each(ctx, e.Observe)
		}()
	}
}

// Wait blocks until the goroutines started by Start have ended (after ctx is cancelled).
func (e *Engine) Wait() { e.wg.Wait() }

func (e *Engine) persistLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for { // drain what is already queued
				select {
				case f := <-e.save:
					e.persist(f)
				default:
					return
				}
			}
		case f := <-e.save:
			e.persist(f)
		}
	}
}

func (e *Engine) persist(f adminapi.Firing) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.opt.Store.PutFiring(ctx, f); err != nil {
		e.log.Error("alerts: saving alert history failed", "alert", f.ID, "err", err)
	}
}

// queueSave snapshots a firing for the persister (called with e.mu held).
func (e *Engine) queueSave(f *adminapi.Firing) {
	c := *f
	c.Deliveries = append([]adminapi.Delivery(nil), f.Deliveries...)
	select {
	case e.save <- c:
	default:
		e.log.Error("alerts: history queue full, alert not saved", "alert", f.ID)
	}
}

// Observe evaluates one event against every rule.
func (e *Engine) Observe(ev event.Event) {
	if ev.Kind == AlertKind {
		return
	}
	ts := ev.TS
	if ts.IsZero() {
		ts = e.now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rs := range e.rules {
		if rs.rule.Disabled || !rs.match(ev) {
			continue
		}
		key := ""
		switch rs.rule.GroupBy {
		case "ip":
			key = ev.IP
		case "app":
			key = ev.App
		}
		g := rs.groups[key]
		if g == nil {
			if len(rs.groups) >= maxGroups {
				rs.evict(ts)
			}
			g = &group{}
			rs.groups[key] = g
		}
		g.lastSeen = ts
		count, crossed := rs.observe(g, ts)
		if !crossed {
			continue
		}
		if !g.lastFired.IsZero() && ts.Sub(g.lastFired) < rs.suppress && g.firing != nil && g.firing.State != adminapi.StateResolved {
			g.firing.Suppressed++
			g.firing.Count += count
			g.firing.TS = ts
			e.queueSave(g.firing)
			continue
		}
		e.fire(rs, g, key, count, ts, ev)
	}
}

func (rs *ruleState) match(ev event.Event) bool {
	m := rs.rule.Match
	if m.Kind != "" && string(ev.Kind) != m.Kind {
		return false
	}
	if m.Action != "" && string(ev.Action) != m.Action {
		return false
	}
	if m.App != "" && ev.App != m.App {
		return false
	}
	if rs.minSev > 0 && event.SeverityRank(ev.Severity) < rs.minSev {
		return false
	}
	if rs.prefix.IsValid() {
		a, err := netip.ParseAddr(ev.IP)
		if err != nil || !rs.prefix.Contains(a.Unmap()) {
			return false
		}
	}
	return true
}

// observe records a matching event in g and says whether the rule's condition now holds,
// with the count that crossed it.
func (rs *ruleState) observe(g *group, ts time.Time) (int, bool) {
	r := rs.rule
	switch r.Type {
	case adminapi.RuleAny:
		return 1, true
	case adminapi.RuleThreshold:
		g.times = append(g.times, ts)
		if len(g.times) > r.Threshold {
			g.times = g.times[len(g.times)-r.Threshold:]
		}
		if len(g.times) == r.Threshold && ts.Sub(g.times[0]) <= rs.window {
			g.times = g.times[:0] // the next alert needs a fresh crossing
			return r.Threshold, true
		}
	case adminapi.RuleSpike:
		if g.minutes == nil {
			g.minutes = map[int64]int{}
		}
		m := ts.Unix() / 60
		g.minutes[m]++
		w := int64(rs.window / time.Minute)
		var cur, prev int
		for k, v := range g.minutes {
			switch {
			case k > m-w:
				cur += v
			case k > m-w-60:
				prev += v
			default:
				delete(g.minutes, k)
			}
		}
		avg := float64(prev) * float64(w) / 60
		min := r.MinCount
		if min < 1 {
			min = 10
		}
		if cur >= min && float64(cur) >= r.Factor*max(avg, 1) {
			return cur, true
		}
	}
	return 0, false
}

func (rs *ruleState) evict(now time.Time) {
	type kv struct {
		k string
		t time.Time
	}
	var all []kv
	for k, g := range rs.groups {
		all = append(all, kv{k, g.lastSeen})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	for _, x := range all[:len(all)/4+1] {
		delete(rs.groups, x.k)
	}
}

// fire records a new alert and queues its deliveries (called with e.mu held).
func (e *Engine) fire(rs *ruleState, g *group, key string, count int, ts time.Time, ev event.Event) {
	e.nextID++
	sev := rs.rule.Severity
	if sev == "" {
		sev = string(ev.Severity)
	}
	if sev == "" {
		sev = string(event.Medium)
	}
	f := &adminapi.Firing{
		ID: e.nextID, RuleID: rs.rule.ID, RuleName: rs.rule.Name, Severity: sev, Group: key, Count: count,
		Window: rs.rule.Window, FirstTS: ts, TS: ts, State: adminapi.StateOpen, Deliveries: []adminapi.Delivery{},
	}
	f.Summary = summary(rs.rule, key, count)
	g.lastFired, g.firing = ts, f
	e.history = append(e.history, f)
	e.byID[f.ID] = f
	if len(e.history) > 2*historyLoad {
		for _, old := range e.history[:historyLoad] {
			delete(e.byID, old.ID)
		}
		e.history = append([]*adminapi.Firing(nil), e.history[historyLoad:]...)
	}
	e.queueSave(f)
	e.log.Warn("alert", "id", f.ID, "rule", f.RuleName, "group", key, "count", count)
	for _, name := range rs.rule.Channels {
		ch, ok := e.channels[name]
		if !ok {
			f.Deliveries = append(f.Deliveries, adminapi.Delivery{Channel: name, Error: "channel does not exist", At: e.now()})
			continue
		}
		select {
		case e.jobs <- job{firing: *f, channel: ch}:
		default:
			f.Deliveries = append(f.Deliveries, adminapi.Delivery{Channel: name, Error: "delivery queue full", At: e.now()})
		}
	}
}

func summary(r adminapi.Rule, key string, count int) string {
	what := r.Match.Kind
	if what == "" {
		what = "events"
	}
	s := ""
	switch r.Type {
	case adminapi.RuleThreshold:
		s = fmt.Sprintf("%d %s within %s", count, what, r.Window)
	case adminapi.RuleSpike:
		s = fmt.Sprintf("spike: %d %s within %s, %.1fx the previous hour's rate", count, what, r.Window, r.Factor)
	default:
		s = fmt.Sprintf("%s event", what)
	}
	if key != "" {
		s += fmt.Sprintf(" from %s %s", r.GroupBy, key)
	}
	return r.Name + ": " + s
}

func (e *Engine) deliverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.jobs:
			d := e.deliver(ctx, j.channel, j.firing)
			if j.done != nil {
				j.done <- d
				continue
			}
			e.mu.Lock()
			if f := e.byID[j.firing.ID]; f != nil {
				f.Deliveries = append(f.Deliveries, d)
				e.queueSave(f)
			}
			e.mu.Unlock()
		}
	}
}

func (e *Engine) deliver(ctx context.Context, ch adminapi.Channel, f adminapi.Firing) adminapi.Delivery {
	attempts, err := e.send(ctx, ch, f)
	d := adminapi.Delivery{Channel: ch.Name, OK: err == nil, Attempts: attempts, At: e.now().UTC()}
	if err != nil {
		d.Error = err.Error()
		e.log.Error("alerts: delivery failed", "alert", f.ID, "channel", ch.Name, "attempts", attempts, "err", err)
	}
	return d
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ---- admin.AlertsService ----

// Rules lists the rules, sorted by name.
func (e *Engine) Rules() []adminapi.Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]adminapi.Rule, 0, len(e.rules))
	for _, rs := range e.rules {
		out = append(out, rs.rule)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || (out[i].Name == out[j].Name && out[i].ID < out[j].ID)
	})
	return out
}

// PutRule validates and saves a rule (a new ID is assigned when empty).
func (e *Engine) PutRule(r adminapi.Rule) (adminapi.Rule, error) {
	if r.ID == "" {
		r.ID = newID()
	}
	rs, err := e.compile(r)
	if err != nil {
		return r, err
	}
	e.mu.Lock()
	for _, c := range r.Channels {
		if _, ok := e.channels[c]; !ok {
			e.mu.Unlock()
			return r, adminapi.Errorf(400, "channels", "channel %q does not exist (create it first)", c)
		}
	}
	e.mu.Unlock()
	if err := e.opt.Store.PutRule(context.Background(), rs.rule); err != nil {
		return r, err
	}
	e.mu.Lock()
	e.rules[r.ID] = rs
	e.mu.Unlock()
	return rs.rule, nil
}

// DeleteRule removes a rule.
func (e *Engine) DeleteRule(id string) error {
	e.mu.Lock()
	_, ok := e.rules[id]
	e.mu.Unlock()
	if !ok {
		return adminapi.Errorf(404, "id", "no alert rule %q", id)
	}
	if err := e.opt.Store.DeleteRule(context.Background(), id); err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.rules, id)
	e.mu.Unlock()
	return nil
}

// Channels lists the channels, sorted by name (secrets included: the API masks them).
func (e *Engine) Channels() []adminapi.Channel {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]adminapi.Channel, 0, len(e.channels))
	for _, c := range e.channels {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PutChannel validates and saves a channel.
// A webhook secret or SMTP password equal to adminapi.SecretMask keeps the one stored for
// the channel of that name, so an operator can edit a channel without typing it again.
func (e *Engine) PutChannel(c adminapi.Channel) error {
	if err := e.keepSecrets(&c); err != nil {
		return err
	}
	if err := checkChannel(&c); err != nil {
		return err
	}
	if err := e.opt.Store.PutChannel(context.Background(), c); err != nil {
		return err
	}
	e.mu.Lock()
	e.channels[c.Name] = c
	e.mu.Unlock()
	return nil
}

// keepSecrets replaces a masked secret by the stored one; a mask with nothing stored behind
// it is refused rather than saved as the secret.
func (e *Engine) keepSecrets(c *adminapi.Channel) error {
	e.mu.Lock()
	old, ok := e.channels[c.Name]
	e.mu.Unlock()
	if c.Webhook != nil && c.Webhook.Secret == adminapi.SecretMask {
		if !ok || old.Webhook == nil || old.Webhook.Secret == "" {
			return bad("webhook.secret", "%q stands for a stored secret, but channel %q has none: send the secret itself", adminapi.SecretMask, c.Name)
		}
		wh := *c.Webhook
		wh.Secret = old.Webhook.Secret
		c.Webhook = &wh
	}
	if c.SMTP != nil && c.SMTP.Password == adminapi.SecretMask {
		if !ok || old.SMTP == nil || old.SMTP.Password == "" {
			return bad("smtp.password", "%q stands for a stored password, but channel %q has none: send the password itself", adminapi.SecretMask, c.Name)
		}
		sm := *c.SMTP
		sm.Password = old.SMTP.Password
		c.SMTP = &sm
	}
	return nil
}

// DeleteChannel removes a channel no rule uses.
func (e *Engine) DeleteChannel(name string) error {
	e.mu.Lock()
	_, ok := e.channels[name]
	var users []string
	for _, rs := range e.rules {
		for _, c := range rs.rule.Channels {
			if c == name {
				users = append(users, rs.rule.Name)
			}
		}
	}
	e.mu.Unlock()
	if !ok {
		return adminapi.Errorf(404, "name", "no alert channel %q", name)
	}
	if len(users) > 0 {
		return adminapi.Errorf(409, "name", "channel %q is used by rules %v: change them first", name, users)
	}
	if err := e.opt.Store.DeleteChannel(context.Background(), name); err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.channels, name)
	e.mu.Unlock()
	return nil
}

// TestChannel sends a test alert through a channel and waits for the outcome.
func (e *Engine) TestChannel(ctx context.Context, name string) (adminapi.Delivery, error) {
	e.mu.Lock()
	ch, ok := e.channels[name]
	e.mu.Unlock()
	if !ok {
		return adminapi.Delivery{}, adminapi.Errorf(404, "name", "no alert channel %q", name)
	}
	now := e.now().UTC()
	f := adminapi.Firing{ID: 0, RuleID: "test", RuleName: "test", Severity: "info", Count: 1, FirstTS: now, TS: now,
		Summary: "test alert from " + e.opt.Hostname, State: adminapi.StateResolved}
	return e.deliver(ctx, ch, f), nil
}

// History returns up to limit firings, newest first.
func (e *Engine) History(limit int) []adminapi.Firing {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]adminapi.Firing, 0, min(limit, len(e.history)))
	for i := len(e.history) - 1; i >= 0 && len(out) < limit; i-- {
		f := *e.history[i]
		f.Deliveries = append([]adminapi.Delivery(nil), f.Deliveries...)
		out = append(out, f)
	}
	return out
}

// Acknowledge marks a firing acknowledged (or resolved) by a client.
func (e *Engine) Acknowledge(id int64, by string, resolve bool) (adminapi.Firing, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.byID[id]
	if f == nil {
		return adminapi.Firing{}, adminapi.Errorf(404, "id", "no alert %d", id)
	}
	if f.State == adminapi.StateResolved {
		return *f, adminapi.Errorf(409, "id", "alert %d is already resolved", id)
	}
	f.State = adminapi.StateAcknowledged
	if resolve {
		f.State = adminapi.StateResolved
	}
	f.AckBy, f.AckAt = by, e.now().UTC()
	e.queueSave(f)
	return *f, nil
}

// Component runs an engine inside the appliance (core/appliance.Component): it evaluates
// the bus subscription and delivers until ctx ends.
type Component struct {
	Engine *Engine
	Sub    *event.Subscription
}

// Name names the component.
func (c Component) Name() string { return "alerts" }

// Run starts the engine and waits for ctx to end.
func (c Component) Run(ctx context.Context) error {
	c.Engine.Start(ctx, c.Sub)
	<-ctx.Done()
	c.Engine.Wait()
	return nil
}
