package apps

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"bulwark/core/manifest"
	"bulwark/db"
)

// Version is one stored version of an app.
type Version struct {
	App      string
	Version  int64
	Created  time.Time
	Manifest json.RawMessage
	SHA256   string
	Warnings string
	Active   bool
	program  string
}

// ErrNotFound is returned for an unknown app or version.
var ErrNotFound = errors.New("not found")

type store struct{ db *db.DB }

func (s store) nextVersion(ctx context.Context, app string) (int64, error) {
	var v sql.NullInt64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT MAX(version) FROM apps_versions WHERE app = ?`, app).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("next version of %s: %w", app, err)
	}
	return v.Int64 + 1, nil
}

// commit stores a new version and makes it active in one transaction.
func (s store) commit(ctx context.Context, v *Version) error {
	sum := sha256.Sum256([]byte(v.program))
	v.SHA256 = hex.EncodeToString(sum[:])
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO apps_versions(app, version, created, manifest, program, sha256, warnings)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, v.App, v.Version, v.Created.UnixNano(), string(v.Manifest), v.program, v.SHA256, v.Warnings); err != nil {
			return fmt.Errorf("store %s v%d: %w", v.App, v.Version, err)
		}
		return setActive(ctx, tx, v.App, v.Version)
	})
}

func setActive(ctx context.Context, tx *sql.Tx, app string, version int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO apps_active(app, version, updated) VALUES (?, ?, ?)
		ON CONFLICT(app) DO UPDATE SET version = excluded.version, updated = excluded.updated`, app, version, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("activate %s v%d: %w", app, version, err)
	}
	return nil
}

func (s store) activate(ctx context.Context, app string, version int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error { return setActive(ctx, tx, app, version) })
}

func (s store) load(ctx context.Context, app string, version int64) (*Version, error) {
	v := &Version{App: app, Version: version}
	var created int64
	var man string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT created, manifest, program, sha256, warnings FROM apps_versions
		WHERE app = ? AND version = ?`, app, version).Scan(&created, &man, &v.program, &v.SHA256, &v.Warnings)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("app %s version %d: %w", app, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s v%d: %w", app, version, err)
	}
	v.Created, v.Manifest = time.Unix(0, created), json.RawMessage(man)
	return v, nil
}

// actives lists app → active version.
func (s store) actives(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT app, version FROM apps_active`)
	if err != nil {
		return nil, fmt.Errorf("list active apps: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var a string
		var v int64
		if err := rows.Scan(&a, &v); err != nil {
			return nil, err
		}
		out[a] = v
	}
	return out, rows.Err()
}

func (s store) versions(ctx context.Context, app string) ([]Version, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT v.version, v.created, v.manifest, v.sha256, v.warnings,
		COALESCE(a.version = v.version, 0) FROM apps_versions v LEFT JOIN apps_active a ON a.app = v.app
		WHERE v.app = ? ORDER BY v.version`, app)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", app, err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v := Version{App: app}
		var created int64
		var man string
		if err := rows.Scan(&v.Version, &created, &man, &v.SHA256, &v.Warnings, &v.Active); err != nil {
			return nil, err
		}
		v.Created, v.Manifest = time.Unix(0, created), json.RawMessage(man)
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s store) remove(ctx context.Context, app string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM apps_active WHERE app = ?`, app); err != nil {
			return fmt.Errorf("remove %s: %w", app, err)
		}
		return nil
	})
}

func (s store) overrides(ctx context.Context, app string) (manifest.Limits, error) {
	var js string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT overrides FROM apps_limits WHERE app = ?`, app).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return manifest.Limits{}, nil
	}
	if err != nil {
		return manifest.Limits{}, fmt.Errorf("limits of %s: %w", app, err)
	}
	var l limitsJSON
	if err := json.Unmarshal([]byte(js), &l); err != nil {
		return manifest.Limits{}, fmt.Errorf("limits of %s: %w", app, err)
	}
	return l.limits(), nil
}

func (s store) setOverrides(ctx context.Context, app string, l manifest.Limits) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		lj := limitsJSONOf(l)
		var js string
		if err := tx.QueryRowContext(ctx, `SELECT overrides FROM apps_limits WHERE app = ?`, app).Scan(&js); err == nil {
			var old limitsJSON
			if json.Unmarshal([]byte(js), &old) == nil {
				lj.Disabled = old.Disabled
			}
		}
		b, _ := json.Marshal(lj)
		_, err := tx.ExecContext(ctx, `INSERT INTO apps_limits(app, overrides, updated) VALUES (?, ?, ?)
			ON CONFLICT(app) DO UPDATE SET overrides = excluded.overrides, updated = excluded.updated`, app, string(b), time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("set limits of %s: %w", app, err)
		}
		return nil
	})
}

// limitsJSON stores manifest.Limits with its KV quota (which app.json keeps elsewhere).
type limitsJSON struct {
	manifest.Limits
	KV       int  `json:"kv_quota_bytes"`
	Disabled bool `json:"disabled,omitempty"` // switched off by the operator (SetEnabled)
}

func limitsJSONOf(l manifest.Limits) limitsJSON { return limitsJSON{Limits: l, KV: l.KVQuotaBytes} }

func (l limitsJSON) limits() manifest.Limits {
	out := l.Limits
	out.KVQuotaBytes = l.KV
	return out
}

// disabledApps lists the apps the operator switched off. The flag is kept beside the limit
// overrides (one row of operator settings per app), so it needs no table of its own.
func (s store) disabledApps(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT app, overrides FROM apps_limits`)
	if err != nil {
		return nil, fmt.Errorf("list disabled apps: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var app, js string
		if err := rows.Scan(&app, &js); err != nil {
			return nil, err
		}
		var l limitsJSON
		if err := json.Unmarshal([]byte(js), &l); err != nil {
			return nil, fmt.Errorf("settings of %s: %w", app, err)
		}
		if l.Disabled {
			out[app] = true
		}
	}
	return out, rows.Err()
}

// setDisabled stores the on/off switch, keeping the limit overrides.
func (s store) setDisabled(ctx context.Context, app string, off bool) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var js string
		l := limitsJSON{}
		err := tx.QueryRowContext(ctx, `SELECT overrides FROM apps_limits WHERE app = ?`, app).Scan(&js)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("settings of %s: %w", app, err)
		}
		if err == nil {
			if err := json.Unmarshal([]byte(js), &l); err != nil {
				return fmt.Errorf("settings of %s: %w", app, err)
			}
		}
		l.Disabled = off
		b, _ := json.Marshal(l)
		if _, err := tx.ExecContext(ctx, `INSERT INTO apps_limits(app, overrides, updated) VALUES (?, ?, ?)
			ON CONFLICT(app) DO UPDATE SET overrides = excluded.overrides, updated = excluded.updated`, app, string(b), time.Now().UnixNano()); err != nil {
			return fmt.Errorf("switch %s: %w", app, err)
		}
		return nil
	})
}
