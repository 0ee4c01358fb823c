package db

import (
	"context"
	"fmt"
)

// Migration is one step of the schema. Its SQL runs in one transaction together with
// setting the file's PRAGMA user_version to Version, so a step is applied entirely or not
// at all, and a crash mid-upgrade leaves the previous version intact.
type Migration struct {
	Version int    // 1, 2, 3, ... with no gaps: the position in the list
	Name    string // what it adds, for errors and the log
	SQL     string // one or more statements separated by ';'
}

// migrations is the schema's history, oldest first. Open applies every step whose Version
// is above the file's user_version, in order.
//
// HOW TO ADD YOUR TABLES (apps, versions, KV, audit, alerts, clients, ...):
//   - append ONE entry at the END of this list, with Version = last Version + 1;
//   - re-read this file right before editing (other packages append too) and never change,
//     reorder or renumber an entry that is already committed: files in the field are
//     already at that version and would never run it again;
//   - to change a table later, append another migration (ALTER TABLE, CREATE INDEX, a new
//     table and INSERT ... SELECT); do not edit the old one;
//   - use plain SQLite SQL, no BEGIN/COMMIT (Open wraps each step in a transaction) and no
//     PRAGMA user_version (Open sets it);
//   - name your tables after your package (apps_..., kv_..., audit_...), and read them with
//     DB.Reader() and write them with DB.Write().
//
// TestMigrations checks the list is numbered 1..N without gaps.
var migrations = []Migration{
	{Version: 1, Name: "events and their rollups", SQL: `
-- One row per verdict (DESIGN.md, "Events"). ts is Unix time in nanoseconds, UTC. detail is
-- a JSON object (or NULL). ids are assigned by SQLite in write order.
CREATE TABLE events (
	id       INTEGER PRIMARY KEY,
	ts       INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	severity TEXT NOT NULL,
	action   TEXT NOT NULL,
	ip       TEXT NOT NULL DEFAULT '',
	method   TEXT NOT NULL DEFAULT '',
	host     TEXT NOT NULL DEFAULT '',
	path     TEXT NOT NULL DEFAULT '',
	app      TEXT NOT NULL DEFAULT '',
	rule     TEXT NOT NULL DEFAULT '',
	detail   TEXT
);
-- Paging is newest first by (ts, id); each index ends in ts so an equality filter plus a
-- time range plus the order are all served by one index walk, with no sort.
CREATE INDEX events_ts   ON events(ts);
CREATE INDEX events_ip   ON events(ip, ts);
CREATE INDEX events_kind ON events(kind, ts);
CREATE INDEX events_rule ON events(rule, ts);

-- Per-minute counts for the charts and the blocked/logged totals. minute is the Unix time
-- in seconds of the minute's start. Updated in the transaction that inserts the events.
CREATE TABLE event_minutes (
	minute INTEGER NOT NULL,
	kind   TEXT NOT NULL,
	action TEXT NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (minute, kind, action)
) WITHOUT ROWID;

-- Per-hour counts per IP, rule and path for the top-N lists. hour is the Unix time in
-- seconds of the hour's start. A window's whole hours come from here, its ragged edges
-- from the events themselves.
CREATE TABLE ip_hours (
	hour  INTEGER NOT NULL,
	ip    TEXT NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (hour, ip)
) WITHOUT ROWID;
CREATE TABLE rule_hours (
	hour  INTEGER NOT NULL,
	rule  TEXT NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (hour, rule)
) WITHOUT ROWID;
CREATE TABLE path_hours (
	hour  INTEGER NOT NULL,
	path  TEXT NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (hour, path)
) WITHOUT ROWID;
`},
}

// checkMigrations refuses a list that is not numbered 1..N: a gap or a duplicate is a
// merge mistake that would otherwise skip or repeat a step in the field.
func checkMigrations(list []Migration) error {
	for i, m := range list {
		if m.Version != i+1 {
			return fmt.Errorf("migration %q at position %d has version %d, want %d (versions must be 1..N in order)",
				m.Name, i+1, m.Version, i+1)
		}
	}
	return nil
}

// migrate brings the file up to the last migration of list.
func (d *DB) migrate(ctx context.Context, list []Migration) error {
	var have int
	if err := d.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fileError(d.path, err)
	}
	if have > len(list) {
		return &SchemaError{Path: d.path, Have: have, Knows: len(list)}
	}
	for _, m := range list[have:] {
		tx, err := d.w.BeginTx(ctx, nil)
		if err != nil {
			return fileError(d.path, err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("database %s: migration %d (%s): %w", d.path, m.Version, m.Name, err)
		}
		// PRAGMA takes no parameters; Version is an int from this file, not input.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("database %s: migration %d (%s): %w", d.path, m.Version, m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("database %s: migration %d (%s): commit: %w", d.path, m.Version, m.Name, err)
		}
	}
	return nil
}
