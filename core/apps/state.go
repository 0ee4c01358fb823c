package apps

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"bulwark/core/event"
	"bulwark/core/manifest"
)

// stub is a disabled app's entry: its active version's routes, no workers.
func stub(v *Version) (*deployment, error) {
	man, err := manifest.Parse(v.Manifest)
	if err != nil {
		return nil, fmt.Errorf("stored manifest: %w", err)
	}
	lim, _ := man.Limits.Override(manifest.Limits{})
	return &deployment{v: v, man: man, limits: lim}, nil
}

func (m *Manager) isDisabled(app string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.disabled[app]
}

// setDisabled stores the app's on/off switch, then records it in the manager.
func (m *Manager) setDisabled(ctx context.Context, app string, off bool) error {
	if err := m.store.setDisabled(ctx, app, off); err != nil {
		return err
	}
	m.mu.Lock()
	if off {
		m.disabled[app] = true
	} else {
		delete(m.disabled, app)
	}
	m.mu.Unlock()
	return nil
}

// install makes a freshly started version the app's running one, or, when the operator has
// switched the app off, records it as the active version and stops its workers again: a
// deploy to a disabled app is stored and health-checked but does not go on the air.
func (m *Manager) install(app string, dep *deployment) {
	if m.isDisabled(app) && dep.sup != nil {
		dep.sup.Close()
		dep = &deployment{v: dep.v, man: dep.man, limits: dep.limits}
	}
	m.swap(app, dep)
}

// SetEnabled switches an app off (its workers stop, its routes answer 503 with the error
// page, its versions and settings stay) or on again (its active version starts and must pass
// the health check). The choice is stored and survives a restart.
func (m *Manager) SetEnabled(ctx context.Context, app string, enabled bool) error {
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	act, err := m.store.actives(ctx)
	if err != nil {
		return err
	}
	ver, ok := act[app]
	if !ok {
		return fmt.Errorf("app %s: no active version: %w", app, ErrNotFound)
	}
	if m.isDisabled(app) == !enabled {
		return nil
	}
	v, err := m.store.load(ctx, app, ver)
	if err != nil {
		return err
	}
	if !enabled {
		dep, err := stub(v)
		if err != nil {
			return err
		}
		if err := m.setDisabled(ctx, app, true); err != nil {
			return err
		}
		m.swap(app, dep) // drains the running version
		return nil
	}
	dep, err := m.start(ctx, v)
	if err != nil {
		return fmt.Errorf("enable %s: %w (it stays disabled)", app, err)
	}
	if err := m.setDisabled(ctx, app, false); err != nil {
		dep.sup.Close()
		return err
	}
	m.swap(app, dep)
	return nil
}

// OnChange registers f to run after every change of the running apps (deploy, rollback,
// removal, enable, disable), outside the manager's locks; the WAF re-reads the manifests'
// modes with it.
func (m *Manager) OnChange(f func()) {
	m.mu.Lock()
	m.onChange = append(m.onChange, f)
	m.mu.Unlock()
}

// cleanPath is the path the router matches: cleaned, keeping a trailing slash.
func cleanPath(raw string) string {
	p := path.Clean("/" + raw)
	if strings.HasSuffix(raw, "/") && p != "/" {
		p += "/"
	}
	return p
}

// AppOf names the app a request will be routed to ("" when none), without running it: the
// defenses in front of the router use it for per-app rate limits, WAF modes and overrides.
func (m *Manager) AppOf(r *http.Request) string {
	if rt := m.match(r.Host, cleanPath(r.URL.Path)); rt != nil {
		return rt.app
	}
	return ""
}

// Security is the manifest's security section of the app's active version (zero when the
// app is not deployed).
// It reads the routing table without a lock: the defenses ask several times per request.
func (m *Manager) Security(app string) manifest.Security {
	for _, r := range *m.table.Load() {
		if r.app == app {
			return r.dep.man.Security
		}
	}
	return manifest.Security{}
}

// Counts are one app's figures over the last hour.
type Counts struct {
	Requests  int64 // requests routed to the app
	Errors    int64 // answered 5xx (by the app or for it: crash, overload, timeout)
	Blocked   int64 // blocked events naming the app (WAF, CSRF, access lists, bans)
	LimitHits int64 // rate limits and sandbox limits (CPU, memory, egress)
}

// Observe counts an event of the bus against its app; the appliance feeds it every event.
func (m *Manager) Observe(e event.Event) {
	if e.App == "" {
		return
	}
	switch {
	case e.Kind == event.RateLimit || e.Kind == event.SandboxCPU || e.Kind == event.SandboxMemory || e.Kind == event.EgressDenied:
		m.counts.add(e.App, e.TS, func(c *Counts) { c.LimitHits++ })
	case e.Action == event.Blocked:
		m.counts.add(e.App, e.TS, func(c *Counts) { c.Blocked++ })
	}
}

// counters keep per-app counts in one-minute buckets for the last hour.
type counters struct {
	mu   sync.Mutex
	apps map[string]*[60]bucket
}

type bucket struct {
	minute int64
	c      Counts
}

func newCounters() *counters { return &counters{apps: map[string]*[60]bucket{}} }

// maxCountedApps bounds the map: events name only routed apps, but a stale name must not
// grow it without end.
const maxCountedApps = 4096

func (cs *counters) add(app string, ts time.Time, f func(*Counts)) {
	if ts.IsZero() {
		ts = time.Now()
	}
	min := ts.Unix() / 60
	cs.mu.Lock()
	defer cs.mu.Unlock()
	b := cs.apps[app]
	if b == nil {
		if len(cs.apps) >= maxCountedApps {
			return
		}
		b = new([60]bucket)
		cs.apps[app] = b
	}
	k := &b[min%60]
	if min < k.minute {
		return // older than the hour this slot now counts
	}
	if k.minute != min {
		*k = bucket{minute: min}
	}
	f(&k.c)
}

func (cs *counters) get(app string, now time.Time) Counts {
	cur := now.Unix() / 60
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var out Counts
	b := cs.apps[app]
	if b == nil {
		return out
	}
	for _, k := range b {
		if k.minute > cur-60 && k.minute <= cur {
			out.Requests += k.c.Requests
			out.Errors += k.c.Errors
			out.Blocked += k.c.Blocked
			out.LimitHits += k.c.LimitHits
		}
	}
	return out
}
