package appliance

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"bulwark/assets"
	"bulwark/core/apps"
	"bulwark/core/bundle"
	"bulwark/core/kv"
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
	a.Add(appsComponent{m})
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

// appsComponent stops every app's workers when the appliance stops.
type appsComponent struct{ m *apps.Manager }

func (appsComponent) Name() string { return "apps" }

func (c appsComponent) Run(ctx context.Context) error {
	<-ctx.Done()
	c.m.Close()
	return nil
}
