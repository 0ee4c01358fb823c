package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/apps"
	"bulwark/core/guard"
	"bulwark/core/manifest"
)

// This file adapts the subsystems as they exist to the small interfaces of services.go, so
// the composition root wires them in one line each.

// forever is how a ban "until removed" is stored in a guard that needs a duration.
const forever = 100 * 365 * 24 * time.Hour

// GuardBans exposes the guard's ban decisions (single addresses; networks belong in the
// deny list).
type GuardBans struct{ Guard *guard.Guard }

func toBan(b guard.Ban, now time.Time) adminapi.Ban {
	out := adminapi.Ban{IP: b.Addr.String(), Reason: b.Reason, Source: b.Rule, Created: b.Created.UTC(), Until: b.Expires.UTC()}
	if b.Expires.Sub(now) > forever/2 {
		out.Until = time.Time{}
	}
	return out
}

// Bans lists the active bans.
func (g GuardBans) Bans(context.Context) ([]adminapi.Ban, error) {
	now := time.Now()
	var out []adminapi.Ban
	for _, b := range g.Guard.Store().List(now) {
		out = append(out, toBan(b, now))
	}
	return out, nil
}

// Ban bans one address.
func (g GuardBans) Ban(_ context.Context, p netip.Prefix, d time.Duration, reason, source string) (adminapi.Ban, error) {
	if !p.IsSingleIP() {
		return adminapi.Ban{}, adminapi.Errorf(400, "ip", "bans are per address; put the network %s in the deny list instead", p)
	}
	if d == 0 {
		d = forever
	}
	if reason == "" {
		reason = "banned by " + source
	}
	b, err := g.Guard.Ban(p.Addr(), d, "manual", reason)
	if err != nil {
		if errors.Is(err, guard.ErrAllowlisted) {
			return adminapi.Ban{}, adminapi.Errorf(409, "ip", "%v", err)
		}
		return adminapi.Ban{}, err
	}
	return toBan(b, time.Now()), nil
}

// Unban lifts a ban.
func (g GuardBans) Unban(_ context.Context, p netip.Prefix) error {
	if !p.IsSingleIP() {
		return adminapi.Errorf(400, "ip", "bans are per address, got the network %s", p)
	}
	ok, err := g.Guard.Unban(p.Addr())
	if err != nil {
		return err
	}
	if !ok {
		return adminapi.Errorf(404, "ip", "%s is not banned", p.Addr())
	}
	return nil
}

// AppsManager exposes core/apps.
type AppsManager struct {
	M *apps.Manager
	// TempDir receives uploaded archives while they are built ("" = the system's).
	TempDir string
}

func appErr(err error) error {
	if errors.Is(err, apps.ErrNotFound) {
		return adminapi.Errorf(404, "name", "%v", err)
	}
	return err
}

func (a AppsManager) info(name string) (adminapi.App, error) {
	for _, ai := range a.M.List() {
		if ai.Name == name {
			lim, _ := json.Marshal(ai.Limits)
			return adminapi.App{Name: ai.Name, Version: strconv.FormatInt(ai.Version, 10), Enabled: true, Routes: ai.Routes, Limits: lim, Workers: ai.Stats.Workers}, nil
		}
	}
	return adminapi.App{Name: name}, nil
}

// List lists the running apps.
func (a AppsManager) List(context.Context) ([]adminapi.App, error) {
	var out []adminapi.App
	for _, ai := range a.M.List() {
		lim, _ := json.Marshal(ai.Limits)
		out = append(out, adminapi.App{Name: ai.Name, Version: strconv.FormatInt(ai.Version, 10), Enabled: true, Routes: ai.Routes, Limits: lim, Workers: ai.Stats.Workers})
	}
	return out, nil
}

// Deploy writes the upload to a private temporary file and deploys it.
func (a AppsManager) Deploy(ctx context.Context, archive []byte) (adminapi.App, error) {
	ext := ".tar.gz"
	if bytes.HasPrefix(archive, []byte("PK\x03\x04")) {
		ext = ".zip"
	}
	dir, err := os.MkdirTemp(a.TempDir, "bulwark-upload-")
	if err != nil {
		return adminapi.App{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app"+ext)
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		return adminapi.App{}, err
	}
	res, err := a.M.Deploy(ctx, path)
	if err != nil {
		return adminapi.App{}, adminapi.Errorf(422, "", "%s", strings.ReplaceAll(err.Error(), path, "upload"))
	}
	app, _ := a.info(res.App)
	app.Version = strconv.FormatInt(res.Version, 10)
	app.DeployedAt = time.Now().UTC()
	return app, nil
}

// Versions lists stored versions.
func (a AppsManager) Versions(ctx context.Context, name string) ([]adminapi.AppVersion, error) {
	vs, err := a.M.Versions(ctx, name)
	if err != nil {
		return nil, appErr(err)
	}
	if len(vs) == 0 {
		return nil, adminapi.Errorf(404, "name", "no app %q", name)
	}
	out := make([]adminapi.AppVersion, len(vs))
	for i, v := range vs {
		out[i] = adminapi.AppVersion{Version: strconv.FormatInt(v.Version, 10), DeployedAt: v.Created.UTC(), Active: v.Active, Hash: v.SHA256}
	}
	return out, nil
}

// Rollback activates version ("" = the previous one).
func (a AppsManager) Rollback(ctx context.Context, name, version string) (adminapi.App, error) {
	var n int64
	if version != "" {
		var err error
		if n, err = strconv.ParseInt(version, 10, 64); err != nil || n < 1 {
			return adminapi.App{}, adminapi.Errorf(400, "version", "%q is not a version number", version)
		}
	}
	res, err := a.M.Rollback(ctx, name, n)
	if err != nil {
		return adminapi.App{}, appErr(err)
	}
	app, _ := a.info(res.App)
	app.Version = strconv.FormatInt(res.Version, 10)
	return app, nil
}

// Remove stops an app.
func (a AppsManager) Remove(ctx context.Context, name string) error {
	return appErr(a.M.Remove(ctx, name))
}

// SetLimits applies operator overrides (fields of app.json's "limits"; zero = manifest value).
func (a AppsManager) SetLimits(ctx context.Context, name string, raw json.RawMessage) (adminapi.App, error) {
	var over manifest.Limits
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&over); err != nil {
		return adminapi.App{}, jsonError(err, int64(len(raw)))
	}
	if err := a.M.SetLimits(ctx, name, over); err != nil {
		return adminapi.App{}, adminapi.Errorf(400, "", "%v", err)
	}
	return a.info(name)
}

// SetEnabled is not offered by core/apps yet (remove and redeploy instead).
func (a AppsManager) SetEnabled(context.Context, string, bool) (adminapi.App, error) {
	return adminapi.App{}, fmt.Errorf("enable/disable: %w yet (use apps rm and deploy)", adminapi.ErrUnavailable)
}

// Logs returns the last n console lines.
func (a AppsManager) Logs(_ context.Context, name string, n int) ([]adminapi.LogLine, error) {
	lines := a.M.Logs(name)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]adminapi.LogLine, len(lines))
	for i, l := range lines {
		out[i] = adminapi.LogLine{TS: l.TS.UTC(), Level: l.Level, Msg: l.Line}
	}
	return out, nil
}
