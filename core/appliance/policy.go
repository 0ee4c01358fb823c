package appliance

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"bulwark/core/admin"
	"bulwark/core/guard"
	"bulwark/core/headers"
	"bulwark/core/policy"
	"bulwark/core/waf"
)

// Policies are the operator's run-time tuning made live and durable: the ban writer, the
// allow and deny lists (configuration file plus operator entries) and the policy documents.
// Lists and Docs are the admin API's Lists and Policies services.
type Policies struct {
	Store policy.Store
	Bans  *policy.BanWriter
	Lists *policy.Lists
	Docs  *policy.Docs
}

// PolicyOptions are the parts wired elsewhere that policy documents drive.
type PolicyOptions struct {
	// Egress receives the per-app fetch allowlist overrides (core/apps); nil keeps them
	// saved but not applied.
	Egress func(map[string][]string) error
}

// SavedBans returns the bans in the store still in force, for GuardOptions.SavedBans
// (expired rows are deleted on the way).
func (a *Appliance) SavedBans() ([]guard.Ban, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return policy.Store{DB: a.Store}.SavedBans(ctx, time.Now())
}

// UsePolicies persists d's bans from now on (off the request path), restores the
// operator's allow/deny entries and policy documents from the store and applies them, and
// makes the headers stage follow the headers document. Call it after UseGuard and before
// Listen.
func (a *Appliance) UsePolicies(d *Defenses, o PolicyOptions) (*Policies, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := policy.Store{DB: a.Store}
	log := a.Log.With("component", "policy")
	p := &Policies{Store: st, Bans: policy.NewBanWriter(st, log)}
	d.Bans.OnChange = p.Bans.OnChange
	a.Add(p.Bans)

	var err error
	if p.Lists, err = policy.NewLists(ctx, d.Guard, st, a.Config.Guard.Allow, a.Config.Guard.Deny, log); err != nil {
		return nil, err
	}
	live := &liveHeaders{}
	live.cur.Store(a.Headers)
	other := admin.ConfigDocs{What: "policy", Sections: map[string]any{"guard": a.Config.Guard}}
	p.Docs, err = policy.NewDocs(ctx, st, policy.Appliers{Sanitizer: d.Sanitizer, Headers: live.set, Egress: o.Egress},
		a.Config.WAF, a.Config.Headers, other, log)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	a.Pipeline.Headers = live.Middleware
	return p, nil
}

// liveHeaders lets the headers stage switch profiles without rebuilding the pipeline.
type liveHeaders struct{ cur atomic.Pointer[headers.Set] }

func (l *liveHeaders) set(s *headers.Set) { l.cur.Store(s) }

// Middleware wraps next with the current profiles; the wrapped handler is rebuilt only
// when the profiles change.
func (l *liveHeaders) Middleware(next http.Handler) http.Handler {
	type built struct {
		set *headers.Set
		h   http.Handler
	}
	var b atomic.Pointer[built]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := l.cur.Load()
		x := b.Load()
		if x == nil || x.set != s {
			x = &built{set: s, h: s.Middleware(next)}
			b.Store(x)
		}
		x.h.ServeHTTP(w, r)
	})
}

// UseWAF compiles the OWASP CRS stage from the effective WAF section (the configuration
// file overlaid by the saved "waf" document, so paranoia and thresholds set through the API
// apply from this start on), puts it into the pipeline's WAF stage and lets the "waf"
// document change modes, per-path modes and exclusions live. appOf names a request's app
// for per-app entries (nil: only global and path entries match). Call it after
// UsePolicies and before Listen; compiling takes about a second.
func (a *Appliance) UseWAF(p *Policies, appOf func(*http.Request) string) (*waf.WAF, error) {
	c := p.Docs.WAFConfig()
	w, err := waf.New(c, a.Events, appOf)
	if err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	if err := p.Docs.SetWAF(w, c); err != nil {
		return nil, fmt.Errorf("waf policy: %w", err)
	}
	a.Pipeline.WAF = w.Middleware
	return w, nil
}
