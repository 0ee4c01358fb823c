package appliance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"bulwark/core/config"
	"bulwark/core/cookies"
	"bulwark/core/csrf"
	"bulwark/core/event"
	"bulwark/core/guard"
	"bulwark/core/logins"
	"bulwark/core/sanitize"
)

// Defenses are the guard-side parts other components call: the admin API (bans, lists,
// HTML policies), the sandbox (sanitizeHTML, login signals, CSRF rotation on login).
type Defenses struct {
	Guard     *guard.Guard
	Bans      *guard.MemoryBans // Load the saved bans into it at start; OnChange to persist
	CSRF      *csrf.Protector   // nil when guard.csrf.enabled = false
	Logins    *logins.Monitor
	Sanitizer *sanitize.Set
}

// GuardOptions are what the configuration file does not hold.
type GuardOptions struct {
	SavedBans    []guard.Ban                // bans persisted by the store, restored before serving
	CookieExempt cookies.Exempt             // per-app cookie exemptions from the manifests
	AppOf        func(*http.Request) string // names the app for per-app rate limits (nil: Host)
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
	g, err := guard.New(guardOptions(gc, o.AppOf), bans, a.Events)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	mon, err := logins.New(logins.Options{}, a.Events)
	if err != nil {
		return nil, fmt.Errorf("logins: %w", err)
	}
	d := &Defenses{Guard: g, Bans: bans, Logins: mon, Sanitizer: sanitize.NewSet()}
	a.Pipeline.Access = g.Access()
	a.Pipeline.RateLimit = g.RateLimit()
	harden := cookies.Harden(o.CookieExempt)
	a.Pipeline.ResponseGuard = harden
	if gc.CSRF.Enabled {
		key, err := csrfKey(a.Config.Data)
		if err != nil {
			return nil, err
		}
		p, err := csrf.New(csrf.Options{TrustedOrigins: gc.CSRF.TrustedOrigins, Key: key, MaxFormBody: gc.CSRF.MaxFormBytes, Sink: a.Events})
		if err != nil {
			return nil, fmt.Errorf("csrf: %w", err)
		}
		d.CSRF = p
		a.Pipeline.CSRF = p.Check()
		inject := p.Inject()
		a.Pipeline.ResponseGuard = func(h http.Handler) http.Handler { return harden(inject(h)) }
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
