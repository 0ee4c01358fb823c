package appliance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bulwark/core/apps"
	"bulwark/core/config"
	"bulwark/core/cookies"
	"bulwark/core/csrf"
	"bulwark/core/event"
	"bulwark/core/guard"
	"bulwark/core/headers"
	"bulwark/core/logins"
	"bulwark/core/manifest"
	"bulwark/core/sanitize"
	"bulwark/core/verdict"
	"bulwark/core/waf"
)

// Defenses are the guard-side parts other components call: the admin API (bans, lists,
// HTML policies), the sandbox (sanitizeHTML, login signals, CSRF rotation on login).
type Defenses struct {
	Guard     *guard.Guard
	Bans      *guard.MemoryBans // Load the saved bans into it at start; OnChange to persist
	CSRF      *csrf.Protector   // nil when guard.csrf.enabled = false
	Logins    *logins.Monitor
	Sanitizer *sanitize.Set

	// apps, once bound, names the app of each request before the router runs and supplies
	// its manifest's security section; until then every request gets the appliance defaults.
	apps atomic.Pointer[apps.Manager]
	wafs []*AppWAF // re-applied when the apps change
	mu   sync.Mutex
}

// Capabilities are the guard-side capabilities apps get: sanitizeHTML with the operator's
// policies, and session and CSRF-token rotation when an app reports a successful login.
func (d *Defenses) Capabilities() apps.Capabilities {
	c := apps.Capabilities{Sanitize: d.Sanitizer.Sanitize}
	if d.CSRF != nil {
		p := d.CSRF
		c.OnLogin = func(requestID string) { p.RotateRequest(requestID) }
	}
	return c
}

// BindApps makes the defenses app-aware: per-app rate limits, cookie exemptions and the
// manifests' security overrides (csrf, sanitize, headers). Call it with UseApps' manager.
func (d *Defenses) BindApps(m *apps.Manager) {
	if m == nil {
		return
	}
	d.apps.Store(m)
	m.OnChange(d.appsChanged)
	d.appsChanged()
}

func (d *Defenses) appsChanged() {
	d.mu.Lock()
	wafs := append([]*AppWAF(nil), d.wafs...)
	d.mu.Unlock()
	for _, x := range wafs {
		x.refresh()
	}
}

// AppOf names the app a request is for (the bound apps' router; "" before BindApps or when
// none matches): UseWAF's appOf, so per-app WAF entries apply before the router runs.
func (d *Defenses) AppOf(r *http.Request) string { return d.appOf(r) }

// AppWAF joins the operator's WAF policy (the "waf" document) with each app's manifest
// security.waf mode. It stands where the running WAF would in Policies.Docs.SetWAF, so a
// document change goes through it; an app change (deploy, switch, removal) re-applies it.
// An app's manifest mode is an entry {app, prefix "/"} after the operator's entries: an
// operator entry for that app wins, and the manifest beats the global mode and global
// path entries for its own app only.
type AppWAF struct {
	d  *Defenses
	w  *waf.WAF
	mu sync.Mutex
	op *waf.Policy // the operator's policy, nil until the first SetPolicy
}

// UseAppWAF makes w follow the manifests' security.waf modes as well as the operator's
// "waf" document. Call it after UseWAF.
func (a *Appliance) UseAppWAF(d *Defenses, p *Policies, w *waf.WAF) error {
	x := &AppWAF{d: d, w: w}
	d.mu.Lock()
	d.wafs = append(d.wafs, x)
	d.mu.Unlock()
	if err := p.Docs.SetWAF(x, p.Docs.WAFConfig()); err != nil {
		return fmt.Errorf("waf policy: %w", err)
	}
	return nil
}

// SetPolicy takes the operator's policy, validates it alone (so its errors name its own
// fields), and applies it joined with the manifests' modes.
func (x *AppWAF) SetPolicy(p waf.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.w.SetPolicy(x.join(p)); err != nil {
		return err
	}
	x.op = &p
	return nil
}

func (x *AppWAF) refresh() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.op == nil {
		return // nothing applied yet: SetWAF's first SetPolicy will join
	}
	if err := x.w.SetPolicy(x.join(*x.op)); err != nil {
		x.w.SetPolicy(*x.op) // a manifest mode the WAF refuses: the operator's policy alone
	}
}

func (x *AppWAF) join(p waf.Policy) waf.Policy {
	m := x.d.apps.Load()
	if m == nil {
		return p
	}
	out := p
	out.Paths = append([]config.WAFPath(nil), p.Paths...)
	for _, ai := range m.List() {
		if mode := m.Security(ai.Name).WAF; mode != "" {
			out.Paths = append(out.Paths, config.WAFPath{App: ai.Name, Prefix: "/", Mode: mode})
		}
	}
	return out
}

// appOf names the request's app: the router's choice when it has run, else the route the
// request will take. "" when no app is bound or none matches.
func (d *Defenses) appOf(r *http.Request) string {
	in := verdict.From(r.Context())
	if app, _, _, _, _ := in.Snapshot(); app != "" {
		return app
	}
	if m := d.apps.Load(); m != nil {
		return m.AppOf(r)
	}
	return ""
}

func (d *Defenses) security(app string) manifest.Security {
	m := d.apps.Load()
	if m == nil || app == "" {
		return manifest.Security{}
	}
	return m.Security(app)
}

// tagApp records the request's app in its verdict as it enters the defenses, so every event
// of the guard, WAF and CSRF stages names the app (and counts against it).
func (d *Defenses) tagApp(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := d.apps.Load(); m != nil {
			if app := m.AppOf(r); app != "" {
				verdict.From(r.Context()).SetApp(app)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cookieExempt reads security.exempt_cookies of the app's manifest; extra is the caller's own.
func (d *Defenses) cookieExempt(extra cookies.Exempt) cookies.Exempt {
	return func(app, name string) bool {
		if extra != nil && extra(app, name) {
			return true
		}
		return app != "" && slices.Contains(d.security(app).ExemptCookies, name)
	}
}

// csrfMode applies security.csrf ("off", "report") and security.csrf_exempt_paths.
func (d *Defenses) csrfMode(r *http.Request) csrf.Mode {
	s := d.security(d.appOf(r))
	switch {
	case s.CSRF == "off" || csrfExempt(s.CSRFExemptPaths, r.URL.Path):
		return csrf.Skip
	case s.CSRF == "report":
		return csrf.Report
	}
	return csrf.Enforce
}

// csrfExempt matches the cleaned path against the manifest's patterns ("/hooks/*" or exact),
// the way routes match, so "/hooks/../admin" is not exempt.
func csrfExempt(patterns []string, raw string) bool {
	if len(patterns) == 0 {
		return false
	}
	p := path.Clean("/" + raw)
	if strings.HasSuffix(raw, "/") && p != "/" {
		p += "/"
	}
	for _, pat := range patterns {
		if (manifest.Route{Path: pat}).MatchPath(p) {
			return true
		}
	}
	return false
}

// appResponse applies the app's security.headers profile (tighten only, unless the operator
// allows apps to loosen: headers.Use decides) and security.sanitize output filter.
func (d *Defenses) appResponse(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := d.security(d.appOf(r))
		if s.Headers != "" {
			// An unknown profile, or a looser one than the operator's without
			// headers.allow_app_loosen, is refused by Use: the operator's profile stays.
			_ = headers.Use(w, s.Headers)
		}
		if pol := d.sanitizePolicy(s.Sanitize); pol != nil {
			sanitize.Filter(pol)(next).ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sanitizePolicy maps the manifest's security.sanitize to a policy of the set: "ugc" is the
// default (user-content) policy, "strict" the operator's policy named strict when there is
// one, else the default; "" and "off" filter nothing.
func (d *Defenses) sanitizePolicy(v string) *sanitize.Policy {
	if v != "ugc" && v != "strict" {
		return nil
	}
	if v == "strict" {
		if p, ok := d.Sanitizer.Get("strict"); ok {
			return p
		}
	}
	p, _ := d.Sanitizer.Get(sanitize.DefaultName)
	return p
}

// GuardOptions are what the configuration file does not hold.
type GuardOptions struct {
	SavedBans    []guard.Ban                // bans persisted by the store, restored before serving
	CookieExempt cookies.Exempt             // extra exemptions beside the manifests' security.exempt_cookies
	AppOf        func(*http.Request) string // names the app for per-app rate limits (nil: the bound apps' router, else Host)
}

// UseGuard builds the request-side and response-side defenses from cfg.Guard and puts them
// into the pipeline's Access, RateLimit, CSRF and ResponseGuard stages. It registers a
// component that feeds the ban rules and the login monitor from the event bus. Call it after
// New and before Listen.
func (a *Appliance) UseGuard(o GuardOptions) (*Defenses, error) {
	gc := a.Config.Guard
	bans := guard.NewMemoryBans()
	if n := bans.Load(o.SavedBans, time.Now()); n > 0 {
		a.Log.Info("bans restored", "count", n)
	}
	d := &Defenses{Bans: bans, Sanitizer: sanitize.NewSet()}
	appOf := o.AppOf
	if appOf == nil {
		// The app the router will pick; requests no app serves share their Host's bucket.
		appOf = func(r *http.Request) string {
			if app := d.appOf(r); app != "" {
				return app
			}
			return r.Host
		}
	}
	g, err := guard.New(guardOptions(gc, appOf), bans, a.Events)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	mon, err := logins.New(logins.Options{}, a.Events)
	if err != nil {
		return nil, fmt.Errorf("logins: %w", err)
	}
	d.Guard, d.Logins = g, mon
	access := g.Access()
	a.Pipeline.Access = func(h http.Handler) http.Handler { return d.tagApp(access(h)) }
	a.Pipeline.RateLimit = g.RateLimit()
	harden := cookies.Harden(d.cookieExempt(o.CookieExempt))
	a.Pipeline.ResponseGuard = func(h http.Handler) http.Handler { return harden(d.appResponse(h)) }
	if gc.CSRF.Enabled {
		key, err := csrfKey(a.Config.Data)
		if err != nil {
			return nil, err
		}
		p, err := csrf.New(csrf.Options{TrustedOrigins: gc.CSRF.TrustedOrigins, Key: key, MaxFormBody: gc.CSRF.MaxFormBytes, Sink: a.Events,
			ModeOf: d.csrfMode})
		if err != nil {
			return nil, fmt.Errorf("csrf: %w", err)
		}
		d.CSRF = p
		a.Pipeline.CSRF = p.Check()
		inject := p.Inject()
		// The sanitize filter runs inside the injector, so forms keep their token field.
		a.Pipeline.ResponseGuard = func(h http.Handler) http.Handler { return harden(inject(d.appResponse(h))) }
	}
	a.Add(guardComponent{d: d, bus: a.Events})
	return d, nil
}

// csrfKey keeps the token key in the data folder so tokens in open pages survive a restart.
func csrfKey(data string) ([]byte, error) {
	path := filepath.Join(data, "csrf.key")
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	return b, nil
}

func guardOptions(gc config.Guard, appOf func(*http.Request) string) guard.Options {
	rate := func(perSec float64, burst int) guard.Rate {
		if perSec == 0 {
			return guard.Off()
		}
		return guard.Rate{PerSecond: perSec, Burst: burst}
	}
	th := func(t config.GuardThreshold) guard.Threshold {
		return guard.Threshold{Max: t.Max, Window: t.Window.D(), BanTime: t.BanTime.D()}
	}
	o := guard.Options{
		Allow: gc.Allow, Deny: gc.Deny,
		IncrementFactor: gc.Bans.IncrementFactor, MaxBanTime: gc.Bans.MaxBanTime.D(),
		Recidive: guard.Recidive{MaxBans: gc.Bans.RecidiveMaxBans, FindTime: gc.Bans.RecidiveFindTime.D(), BanTime: gc.Bans.RecidiveBanTime.D()},
		Scenarios: guard.Scenarios{SensitiveFiles: th(gc.Scenarios.SensitiveFiles), NotFound: th(gc.Scenarios.NotFound),
			Scanner: th(gc.Scenarios.Scanner), Flood: th(gc.Scenarios.Flood),
			ExtraSensitive: gc.Scenarios.ExtraSensitive, ExtraScanners: gc.Scenarios.ExtraScanners},
		PerIP:  rate(gc.RateLimit.PerIP, gc.RateLimit.PerIPBurst),
		PerApp: rate(gc.RateLimit.PerApp, gc.RateLimit.PerAppBurst),
		AppOf:  appOf,
	}
	for _, r := range gc.Rules {
		kinds := make([]event.Kind, len(r.Kinds))
		for i, k := range r.Kinds {
			kinds[i] = event.Kind(k)
		}
		actions := make([]event.Action, len(r.Actions))
		for i, x := range r.Actions {
			actions[i] = event.Action(x)
		}
		o.Rules = append(o.Rules, guard.Rule{Name: r.Name, Kinds: kinds, Actions: actions, MaxMatches: r.MaxMatches, FindTime: r.FindTime.D(), BanTime: r.BanTime.D()})
	}
	return o
}

// guardComponent feeds the ban rules and the login monitor from the bus while the
// appliance runs.
type guardComponent struct {
	d   *Defenses
	bus *event.Bus
}

func (guardComponent) Name() string { return "guard" }

func (c guardComponent) Run(ctx context.Context) error {
	rules := c.bus.Subscribe("guard", 4096)
	signals := c.bus.Subscribe("logins", 1024)
	defer rules.Close()
	defer signals.Close()
	done := make(chan struct{})
	go func() { c.d.Logins.Run(ctx, signals); close(done) }()
	c.d.Guard.Run(ctx, rules)
	<-done
	return nil
}
