package apps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"bulwark/core/egress"
	"bulwark/core/event"
	"bulwark/core/manifest"
	"bulwark/core/sandbox"
	"bulwark/core/verdict"
	"bulwark/db"
)

// Built is an app folder turned into what the sandbox runs.
type Built struct {
	Manifest     *manifest.Manifest
	ManifestJSON []byte   // app.json as deployed
	Program      string   // the bundle: assigns sandbox.AppGlobal
	Warnings     []string // e.g. TypeScript type errors: reported, not fatal
}

// Builder bundles an app folder (or archive). Its errors name the file, the import or the
// manifest field at fault.
type Builder interface {
	Build(path string) (*Built, error)
}

// BuilderFunc adapts a function to Builder.
type BuilderFunc func(path string) (*Built, error)

// Build calls f.
func (f BuilderFunc) Build(path string) (*Built, error) { return f(path) }

// Config wires a Manager.
type Config struct {
	DB      *db.DB
	Builder Builder
	Sandbox sandbox.Options // worker binary and restart policy; Events, Host and Logs are set here
	Events  event.Sink
	Caps    Capabilities
	// HealthTimeout bounds a new version's start and health check.
	HealthTimeout time.Duration
	// DrainTimeout bounds how long a replaced version finishes its requests.
	DrainTimeout time.Duration
	// Pages renders the error pages (404, 413, 502, 503, 504).
	Pages func(status int) []byte
	// Egress configures outbound fetch (resolver, roots); the zero value is the real one.
	Egress egress.Options
}

// Manager deploys, versions, runs and routes apps. It is the Router stage of the pipeline.
type Manager struct {
	cfg    Config
	store  store
	events event.Sink
	logs   *logBook

	deployMu sync.Mutex // one deploy, rollback or removal at a time
	mu       sync.Mutex
	running  map[string]*deployment
	table    atomic.Pointer[[]route]
	inflight sync.Map        // request id → *inflight, for capability calls' events and login hooks
	sessions sync.Map        // request id → *egress.Session
	disabled map[string]bool // apps the operator switched off (persisted with their overrides)
	counts   *counters       // per-app requests, errors, blocks and limit hits, last hour
	onChange []func()        // run after each swap

	stop chan struct{}
	wg   sync.WaitGroup
}

// deployment is one running version.
type deployment struct {
	secrets map[string]string // env name → secret reference
	egress  *egress.Client
	v       *Version
	man     *manifest.Manifest
	limits  manifest.Limits
	sup     *sandbox.Supervisor // nil for a disabled app: its routes answer 503
}

type route struct {
	r   manifest.Route
	app string
	dep *deployment
}

// New opens the manager and starts every app's active version. An app whose version does
// not start is reported in the returned error but does not stop the others.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.DB == nil || cfg.Builder == nil {
		return nil, errors.New("apps: a database and a builder are required")
	}
	if cfg.Events == nil {
		cfg.Events = event.Discard
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 20 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 15 * time.Second
	}
	if cfg.Pages == nil {
		cfg.Pages = plainPage
	}
	m := &Manager{cfg: cfg, store: store{cfg.DB}, events: cfg.Events, logs: newLogBook(1000),
		running: map[string]*deployment{}, stop: make(chan struct{}), counts: newCounters()}
	m.table.Store(&[]route{})
	act, err := m.store.actives(ctx)
	if err != nil {
		return nil, err
	}
	if m.disabled, err = m.store.disabledApps(ctx); err != nil {
		return nil, err
	}
	var errs []error
	for app, ver := range act {
		v, err := m.store.load(ctx, app, ver)
		if err == nil {
			var dep *deployment
			if m.disabled[app] {
				dep, err = stub(v)
			} else {
				dep, err = m.start(ctx, v)
			}
			if err == nil {
				m.swap(app, dep)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s v%d: %w", app, ver, err))
		}
	}
	m.wg.Add(1)
	go m.cron()
	return m, errors.Join(errs...)
}

// Close stops every app's workers.
func (m *Manager) Close() {
	select {
	case <-m.stop:
		return
	default:
	}
	close(m.stop)
	m.wg.Wait()
	m.mu.Lock()
	deps := m.running
	m.running = map[string]*deployment{}
	m.table.Store(&[]route{})
	m.mu.Unlock()
	for _, d := range deps {
		if d.sup != nil {
			d.sup.Close()
		}
	}
}

// DeployResult says what a deploy did.
type DeployResult struct {
	App      string
	Version  int64
	Previous int64 // 0 for a first deploy
	Warnings []string
	Startup  time.Duration // from built to serving
}

// Deploy builds the folder or archive at path, starts the new version beside the running one,
// checks its health and switches traffic to it. On any error the running version is untouched.
func (m *Manager) Deploy(ctx context.Context, path string) (*DeployResult, error) {
	built, err := m.cfg.Builder.Build(path)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return m.DeployBuilt(ctx, built)
}

// DeployBuilt deploys an already built app (the admin API builds uploads itself).
func (m *Manager) DeployBuilt(ctx context.Context, built *Built) (*DeployResult, error) {
	man := built.Manifest
	if man == nil || man.Name == "" {
		return nil, errors.New("deploy: the build has no manifest")
	}
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	prev := m.activeVersion(man.Name)
	n, err := m.store.nextVersion(ctx, man.Name)
	if err != nil {
		return nil, err
	}
	mj := built.ManifestJSON
	if len(mj) == 0 {
		var err error
		if mj, err = storedManifest(man); err != nil {
			return nil, err
		}
	}
	v := &Version{App: man.Name, Version: n, Created: time.Now(), Manifest: mj, program: built.Program}
	for i, w := range built.Warnings {
		if i > 0 {
			v.Warnings += "\n"
		}
		v.Warnings += w
	}
	t0 := time.Now()
	dep, err := m.startWith(ctx, v, man)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w%s", man.Name, err, keeps(prev))
	}
	if err := m.store.commit(ctx, v); err != nil {
		dep.sup.Close()
		return nil, fmt.Errorf("deploy %s: %w%s", man.Name, err, keeps(prev))
	}
	m.install(man.Name, dep)
	return &DeployResult{App: man.Name, Version: n, Previous: prev, Warnings: built.Warnings, Startup: time.Since(t0)}, nil
}

func keeps(prev int64) string {
	if prev == 0 {
		return ""
	}
	return fmt.Sprintf(" (version %d keeps serving)", prev)
}

// Rollback switches app to an earlier stored version (0: the one before the active one).
func (m *Manager) Rollback(ctx context.Context, app string, version int64) (*DeployResult, error) {
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	prev := m.activeVersion(app)
	if version == 0 {
		vs, err := m.store.versions(ctx, app)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.Version < prev && v.Version > version {
				version = v.Version
			}
		}
		if version == 0 {
			return nil, fmt.Errorf("rollback %s: no version before %d: %w", app, prev, ErrNotFound)
		}
	}
	v, err := m.store.load(ctx, app, version)
	if err != nil {
		return nil, fmt.Errorf("rollback: %w", err)
	}
	t0 := time.Now()
	dep, err := m.start(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("rollback %s to %d: %w%s", app, version, err, keeps(prev))
	}
	if err := m.store.activate(ctx, app, version); err != nil {
		dep.sup.Close()
		return nil, fmt.Errorf("rollback %s: %w%s", app, err, keeps(prev))
	}
	m.install(app, dep)
	return &DeployResult{App: app, Version: version, Previous: prev, Startup: time.Since(t0)}, nil
}

// Remove stops an app and takes it off its routes; its versions stay stored.
func (m *Manager) Remove(ctx context.Context, app string) error {
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	if err := m.store.remove(ctx, app); err != nil {
		return err
	}
	if m.isDisabled(app) {
		if err := m.setDisabled(ctx, app, false); err != nil {
			return err
		}
	}
	m.swap(app, nil)
	return nil
}

// Versions lists an app's stored versions, oldest first.
func (m *Manager) Versions(ctx context.Context, app string) ([]Version, error) {
	return m.store.versions(ctx, app)
}

// AppInfo describes a running app.
type AppInfo struct {
	Name    string
	Version int64
	Routes  []string
	Limits  manifest.Limits
	Stats   sandbox.Stats
	Enabled bool      // false: switched off by the operator, its routes answer 503
	Counts  Counts    // the last hour's requests, errors, blocks and limit hits
	Created time.Time // when the running version was deployed
}

// List describes the running apps, by name.
func (m *Manager) List() []AppInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AppInfo
	for name, d := range m.running {
		ai := AppInfo{Name: name, Version: d.v.Version, Limits: d.limits, Enabled: d.sup != nil, Counts: m.counts.get(name, time.Now()), Created: d.v.Created}
		if d.sup != nil {
			ai.Stats = d.sup.Stats()
		}
		for _, r := range d.man.Routes {
			ai.Routes = append(ai.Routes, r.String())
		}
		out = append(out, ai)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetLimits stores operator overrides for app (zero fields: the manifest's value) and
// restarts its active version under them, the same way as a deploy.
func (m *Manager) SetLimits(ctx context.Context, app string, over manifest.Limits) error {
	if _, err := manifest.Defaults().Override(over); err != nil {
		return fmt.Errorf("limits of %s: %w", app, err)
	}
	if err := m.store.setOverrides(ctx, app, over); err != nil {
		return err
	}
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	cur := m.activeVersion(app)
	if cur == 0 || m.isDisabled(app) {
		return nil // the new limits apply when the app runs again
	}
	v, err := m.store.load(ctx, app, cur)
	if err != nil {
		return err
	}
	dep, err := m.start(ctx, v)
	if err != nil {
		return fmt.Errorf("restart %s under new limits: %w%s", app, err, keeps(cur))
	}
	m.swap(app, dep)
	return nil
}

// Logs returns an app's recent console lines, oldest first.
func (m *Manager) Logs(app string) []LogLine { return m.logs.lines(app) }

func (m *Manager) activeVersion(app string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.running[app]; d != nil {
		return d.v.Version
	}
	return 0
}

// start runs a stored version.
func (m *Manager) start(ctx context.Context, v *Version) (*deployment, error) {
	man, err := manifest.Parse(v.Manifest)
	if err != nil {
		return nil, fmt.Errorf("stored manifest: %w", err)
	}
	return m.startWith(ctx, v, man)
}

// startWith starts the version's workers and checks its health.
func (m *Manager) startWith(ctx context.Context, v *Version, man *manifest.Manifest) (*deployment, error) {
	over, err := m.store.overrides(ctx, v.App)
	if err != nil {
		return nil, err
	}
	lim, err := man.Limits.Override(over)
	if err != nil {
		return nil, err
	}
	if man.Permissions.KV != nil && over.KVQuotaBytes == 0 {
		lim.KVQuotaBytes = man.Permissions.KV.QuotaBytes
	}
	env, secrets := m.env(man)
	eg, err := egress.New(egress.Policy{Allow: man.Permissions.Fetch, Subrequests: lim.Subrequests,
		Concurrency: lim.SubrequestConcurrency, MaxBodyBytes: int64(lim.SubrequestBodyBytes),
		MaxSendBytes: int64(lim.SubrequestBodyBytes), Timeout: time.Duration(lim.WallMs) * time.Millisecond}, m.cfg.Egress)
	if err != nil {
		return nil, err
	}
	dep := &deployment{v: v, man: man, limits: lim, secrets: secrets, egress: eg}
	secretNames := make([]string, 0, len(secrets))
	for k := range secrets {
		secretNames = append(secretNames, k)
	}
	sort.Strings(secretNames)
	opts := m.cfg.Sandbox
	opts.Events = m.events
	opts.Logs = m.logs
	opts.Host = &appHost{m: m, dep: dep}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = m.cfg.HealthTimeout
	}
	sup, err := sandbox.Start(opts, sandbox.Spec{App: v.App, Version: v.Version, Program: v.program, Env: env,
		Secrets: secretNames, KV: man.Permissions.KV != nil, Limits: sandboxLimits(lim)})
	if err != nil {
		return nil, err
	}
	dep.sup = sup
	if err := m.health(ctx, dep); err != nil {
		sup.Close()
		return nil, fmt.Errorf("health check of version %d: %w", v.Version, err)
	}
	return dep, nil
}

// health sends one GET to the first route; any response counts (a 404 is an app that
// answers), an exception or a limit does not.
func (m *Manager) health(ctx context.Context, d *deployment) error {
	host, path := "localhost", "/"
	if len(d.man.Routes) > 0 {
		r := d.man.Routes[0]
		if r.Host != "" && r.Host[0] != '*' {
			host = r.Host
		}
		if p := trimPattern(r.Path); p != "" {
			path = p
		}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.HealthTimeout)
	defer cancel()
	id := "health-" + verdict.NewID()
	defer m.sessions.Delete(id)
	_, err := d.sup.Do(ctx, &sandbox.Request{ID: id, Method: "GET", URL: "https://" + host + path,
		Header: []string{"user-agent", "bulwark-health"}, IP: "127.0.0.1", Host: host, Path: path})
	return err
}

func trimPattern(p string) string {
	if p == "/*" {
		return "/"
	}
	if len(p) > 2 && p[len(p)-2:] == "/*" {
		return p[:len(p)-2] + "/"
	}
	return p
}

// env splits the manifest's env into plain values, handed to the workers, and secret
// references, which stay here: the app reads a secret through the "secret" capability, so a
// worker holds none until its code asks.
func (m *Manager) env(man *manifest.Manifest) (plain []string, secrets map[string]string) {
	names := make([]string, 0, len(man.Env))
	for k := range man.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	secrets = map[string]string{}
	for _, k := range names {
		if v := man.Env[k]; v.IsSecret() {
			secrets[k] = v.Secret
		} else {
			plain = append(plain, k, v.Value)
		}
	}
	return plain, secrets
}

// swap makes dep the app's running version (nil: none) in one step and drains the old one.
func (m *Manager) swap(app string, dep *deployment) {
	m.mu.Lock()
	old := m.running[app]
	if dep == nil {
		delete(m.running, app)
	} else {
		m.running[app] = dep
	}
	var t []route
	for name, d := range m.running {
		for _, r := range d.man.Routes {
			t = append(t, route{r: r, app: name, dep: d})
		}
	}
	sort.SliceStable(t, func(i, j int) bool {
		si, sj := t[i].r.Specificity(), t[j].r.Specificity()
		if si != sj {
			return si > sj
		}
		return t[i].app < t[j].app
	})
	m.table.Store(&t)
	hooks := m.onChange
	m.mu.Unlock()
	if old != nil && old.sup != nil {
		go old.sup.Drain(m.cfg.DrainTimeout)
	}
	for _, f := range hooks {
		f()
	}
}

func sandboxLimits(l manifest.Limits) sandbox.Limits {
	return sandbox.Limits{
		MemoryMB: l.MemoryMB, CPU: time.Duration(l.CPUMs) * time.Millisecond, Wall: time.Duration(l.WallMs) * time.Millisecond,
		Workers: l.Workers, Concurrency: l.Concurrency, RequestBodyBytes: l.RequestBodyBytes,
		ResponseBodyBytes: l.ResponseBodyBytes, Subrequests: l.Subrequests, LogLinesPerMinute: l.LogLinesPerMinute,
		LogLineBytes: l.LogLineBytes, StackDepth: l.StackDepth, RecycleAfter: l.RecycleAfter,
	}
}

// cron runs scheduled handlers at the minutes their expressions match.
func (m *Manager) cron() {
	defer m.wg.Done()
	for {
		now := time.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		select {
		case <-m.stop:
			return
		case <-time.After(next.Sub(now)):
		}
		m.mu.Lock()
		var due []*deployment
		var exprs []string
		for _, d := range m.running {
			if d.sup == nil {
				continue // disabled
			}
			for _, s := range d.man.Schedules {
				if c := s.Parsed(); c != nil && c.Matches(next) {
					due, exprs = append(due, d), append(exprs, s.Cron)
				}
			}
		}
		m.mu.Unlock()
		for i, d := range due {
			id := "cron-" + verdict.NewID()
			go func() {
				defer m.sessions.Delete(id)
				d.sup.Do(context.Background(), &sandbox.Request{ID: id, Method: "SCHEDULED",
					Cron: exprs[i], URL: "https://localhost/", Host: "localhost", Path: "/"})
			}()
		}
	}
}
