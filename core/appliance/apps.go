package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"bulwark/assets"
	"bulwark/core/admin"
	"bulwark/core/adminapi"
	"bulwark/core/apps"
	"bulwark/core/bundle"
	"bulwark/core/event"
	"bulwark/core/kv"
	"bulwark/core/manifest"
	"bulwark/core/sandbox"
)

// UseApps mounts the sandboxed apps as the pipeline's Router stage: it starts every app's
// active version, deploys the built-in demo app when nothing is deployed yet (sandbox.demo_app),
// and registers a component that stops the workers on shutdown. Call it after New and before
// Listen. caps are the capabilities apps may be granted (egress fetch, KV, sanitizer,
// secrets); a nil KV gets the SQLite store, a nil Fetch core/egress, a nil Sanitize
// bluemonday's UGC policy, and a nil Secrets refuses secrets. With sandbox.enabled = false it does nothing.
func (a *Appliance) UseApps(ctx context.Context, caps apps.Capabilities) (*apps.Manager, error) {
	sc := a.Config.Sandbox
	if !sc.Enabled {
		return nil, nil
	}
	if caps.KV == nil {
		caps.KV = apps.KVStore(kv.New(a.Store, kv.Options{}))
	}
	m, err := apps.New(ctx, apps.Config{
		DB:      a.Store,
		Builder: apps.Bundler(bundle.Options{}),
		Events:  a.Events,
		Caps:    caps,
		Sandbox: sandbox.Options{Exe: sc.WorkerBinary, AddressSlackMB: sc.AddressSlackMB,
			RestartBackoff: sc.RestartBackoff.D(), RestartBackoffMax: sc.RestartBackoffMax.D()},
		HealthTimeout: sc.HealthTimeout.D(),
		DrainTimeout:  sc.DrainTimeout.D(),
		Pages:         assets.ErrorPage,
	})
	if m == nil {
		return nil, fmt.Errorf("apps: %w", err)
	}
	if err != nil {
		// One app that no longer starts must not keep the others off the air.
		a.Log.Error("some apps did not start", "err", err)
	}
	if sc.DemoApp && len(m.List()) == 0 {
		if vs, _ := m.Versions(ctx, "demo"); len(vs) == 0 {
			if err := a.deployDemo(ctx, m); err != nil {
				a.Log.Error("demo app not deployed", "err", err)
			}
		}
	}
	a.Pipeline.Router = m
	a.Add(appsComponent{m: m, bus: a.Events})
	return m, nil
}

// deployDemo writes the embedded demo app into the data folder and deploys it like any app.
func (a *Appliance) deployDemo(ctx context.Context, m *apps.Manager) error {
	src, err := fs.Sub(assets.Demo(), "app")
	if err != nil {
		return err
	}
	dir := filepath.Join(a.Config.Data, "apps", "demo-source")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.CopyFS(dir, src); err != nil {
		return fmt.Errorf("write demo app: %w", err)
	}
	res, err := m.Deploy(ctx, dir)
	if err != nil {
		return err
	}
	a.Log.Info("demo app deployed", "version", res.Version, "startup", res.Startup.String())
	return nil
}

// appsComponent counts the bus's events per app (blocks and limit hits for the apps list)
// and stops every app's workers when the appliance stops.
type appsComponent struct {
	m   *apps.Manager
	bus *event.Bus
}

func (appsComponent) Name() string { return "apps" }

func (c appsComponent) Run(ctx context.Context) error {
	sub := c.bus.Subscribe("apps-counters", 4096)
	defer sub.Close()
	sub.Each(ctx, c.m.Observe)
	c.m.Close()
	return nil
}

// AppsService adapts the app manager to the admin API's apps endpoints.
func AppsService(m *apps.Manager) admin.AppsService { return appsService{m} }

type appsService struct{ m *apps.Manager }

func appOf(ai apps.AppInfo) adminapi.App {
	lim, _ := json.Marshal(ai.Limits)
	return adminapi.App{Name: ai.Name, Version: strconv.FormatInt(ai.Version, 10), Enabled: ai.Enabled, Routes: ai.Routes, DeployedAt: ai.Created.UTC(),
		Limits: lim, Workers: ai.Stats.Workers, LastHour: &adminapi.AppCounts{Requests: ai.Counts.Requests,
			Errors: ai.Counts.Errors, Blocked: ai.Counts.Blocked, LimitHits: ai.Counts.LimitHits}}
}

func (s appsService) find(name string) (adminapi.App, error) {
	for _, ai := range s.m.List() {
		if ai.Name == name {
			return appOf(ai), nil
		}
	}
	return adminapi.App{}, fmt.Errorf("app %s: %w", name, adminapi.ErrNotFound)
}

func (s appsService) List(ctx context.Context) ([]adminapi.App, error) {
	var out []adminapi.App
	for _, ai := range s.m.List() {
		out = append(out, appOf(ai))
	}
	return out, nil
}

func (s appsService) Deploy(ctx context.Context, archive []byte) (adminapi.App, error) {
	res, err := bundle.BuildArchive(archive, bundle.Options{})
	if err != nil {
		return adminapi.App{}, fmt.Errorf("deploy: %w", err)
	}
	built, err := apps.FromBundle(res)
	if err != nil {
		return adminapi.App{}, err
	}
	r, err := s.m.DeployBuilt(ctx, built)
	if err != nil {
		return adminapi.App{}, err
	}
	return s.find(r.App)
}

func (s appsService) Versions(ctx context.Context, name string) ([]adminapi.AppVersion, error) {
	vs, err := s.m.Versions(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.AppVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, adminapi.AppVersion{Version: strconv.FormatInt(v.Version, 10), DeployedAt: v.Created.UTC(),
			Active: v.Active, Hash: v.SHA256})
	}
	return out, nil
}

func (s appsService) Rollback(ctx context.Context, name, version string) (adminapi.App, error) {
	var n int64
	if version != "" {
		var err error
		if n, err = strconv.ParseInt(version, 10, 64); err != nil || n < 1 {
			return adminapi.App{}, fmt.Errorf("rollback %s: version %q is not a version number", name, version)
		}
	}
	if _, err := s.m.Rollback(ctx, name, n); err != nil {
		return adminapi.App{}, err
	}
	return s.find(name)
}

func (s appsService) Remove(ctx context.Context, name string) error { return s.m.Remove(ctx, name) }

func (s appsService) SetLimits(ctx context.Context, name string, raw json.RawMessage) (adminapi.App, error) {
	var l manifest.Limits
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return adminapi.App{}, fmt.Errorf("limits of %s: %w", name, err)
	}
	if err := s.m.SetLimits(ctx, name, l); err != nil {
		return adminapi.App{}, err
	}
	return s.find(name)
}

// SetEnabled switches an app off (its routes answer 503, its versions and settings stay) or
// on again; the choice survives a restart.
func (s appsService) SetEnabled(ctx context.Context, name string, enabled bool) (adminapi.App, error) {
	if err := s.m.SetEnabled(ctx, name, enabled); err != nil {
		if errors.Is(err, apps.ErrNotFound) {
			return adminapi.App{}, fmt.Errorf("%w: %w", adminapi.ErrNotFound, err)
		}
		return adminapi.App{}, err
	}
	return s.find(name)
}

func (s appsService) Logs(ctx context.Context, name string, n int) ([]adminapi.LogLine, error) {
	lines := s.m.Logs(name)
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]adminapi.LogLine, 0, len(lines))
	for _, l := range lines {
		out = append(out, adminapi.LogLine{TS: l.TS, Level: l.Level, Msg: l.Line})
	}
	return out, nil
}
