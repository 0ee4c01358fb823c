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

-- The same counts packed one row per minute, for the charts: a day is 1440 short rows
-- instead of tens of thousands. counts holds one line per kind and action present in that
-- minute, "kind<TAB>action<TAB>count", sorted. Written by the event writer only.
CREATE TABLE minute_counts (
	minute INTEGER PRIMARY KEY,
	counts TEXT NOT NULL
);

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
-- The busiest values of one hour first: the top-N query reads a few rows per hour from
-- these to find its candidates (see DB.top).
CREATE INDEX ip_hours_count   ON ip_hours(hour, count);
CREATE INDEX rule_hours_count ON rule_hours(hour, count);
CREATE INDEX path_hours_count ON path_hours(hour, count);
`},
	{Version: 2, Name: "app versions, the active version and limit overrides", SQL: `
-- One row per deployed version (core/apps). Versions are immutable: the trigger refuses any
-- UPDATE, so rollback means pointing apps_active at an older row, never rewriting one.
CREATE TABLE apps_versions (
	app      TEXT NOT NULL,
	version  INTEGER NOT NULL,
	created  INTEGER NOT NULL,           -- Unix nanoseconds
	manifest TEXT NOT NULL,              -- app.json as deployed (JSON)
	program  TEXT NOT NULL,              -- the bundled script the workers run
	sha256   TEXT NOT NULL,
	warnings TEXT NOT NULL DEFAULT '',   -- bundler warnings (TypeScript type errors, ...)
	PRIMARY KEY (app, version)
) WITHOUT ROWID;
CREATE TRIGGER apps_versions_immutable BEFORE UPDATE ON apps_versions
BEGIN SELECT RAISE(ABORT, 'app versions are immutable'); END;
-- Which version of each app serves traffic.
CREATE TABLE apps_active (
	app     TEXT PRIMARY KEY,
	version INTEGER NOT NULL,
	updated INTEGER NOT NULL
);
-- Operator overrides of an app's limits (JSON of manifest.Limits, zero = manifest value).
CREATE TABLE apps_limits (
	app       TEXT PRIMARY KEY,
	overrides TEXT NOT NULL,
	updated   INTEGER NOT NULL
);
`},
	{Version: 3, Name: "admin audit trail and alert rules, channels and history", SQL: `
-- Every change made through the admin API, with the client certificate's name (core/admin).
CREATE TABLE admin_audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	ts     INTEGER NOT NULL,  -- Unix nanoseconds
	client TEXT NOT NULL,
	role   TEXT NOT NULL,
	method TEXT NOT NULL,
	path   TEXT NOT NULL,
	status INTEGER NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_audit_ts ON admin_audit(ts);
-- Alert rules and channels as JSON documents of core/adminapi (core/alerts).
CREATE TABLE alerts_rules (
	id  TEXT PRIMARY KEY,
	doc TEXT NOT NULL
);
CREATE TABLE alerts_channels (
	name TEXT PRIMARY KEY,
	doc  TEXT NOT NULL
);
-- Alert firings, newest by id; doc is the adminapi.Firing with its deliveries and state.
CREATE TABLE alerts_history (
	id  INTEGER PRIMARY KEY,
	ts  INTEGER NOT NULL,
	doc TEXT NOT NULL
);
CREATE INDEX alerts_history_ts ON alerts_history(ts);
`},
	{Version: 4, Name: "app key-value store", SQL: `
-- env.KV of each app (core/kv): one namespace per app, keys compared bytewise for list.
CREATE TABLE kv_entries (
	app     TEXT NOT NULL,
	key     TEXT NOT NULL,
	value   BLOB NOT NULL,
	updated INTEGER NOT NULL, -- Unix nanoseconds
	PRIMARY KEY (app, key)
) WITHOUT ROWID;
-- Bytes (len(key)+len(value) summed) and keys per app, kept in the put's transaction so the
-- quota check needs no scan.
CREATE TABLE kv_usage (
	app   TEXT PRIMARY KEY,
	bytes INTEGER NOT NULL,
	keys  INTEGER NOT NULL
);
`},
	{Version: 5, Name: "bans, operator access lists and policy documents", SQL: `
-- core/policy. Bans mirror the guard's in-memory store (written off the request path,
-- loaded at start); times are Unix nanoseconds. offense counts the address's bans for the
-- incremental ban time.
CREATE TABLE policy_bans (
	ip      TEXT PRIMARY KEY, -- address (or CIDR)
	rule    TEXT NOT NULL,
	reason  TEXT NOT NULL,
	created INTEGER NOT NULL,
	until   INTEGER NOT NULL,
	offense INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX policy_bans_until ON policy_bans(until);
-- Allow and deny entries the operator added through the admin API (the configuration
-- file's guard.allow / guard.deny stay a base under them).
CREATE TABLE policy_access (
	list    TEXT NOT NULL CHECK (list IN ('allow', 'deny')),
	cidr    TEXT NOT NULL,
	note    TEXT NOT NULL,
	created INTEGER NOT NULL,
	by      TEXT NOT NULL,
	PRIMARY KEY (list, cidr)
) WITHOUT ROWID;
-- Policy documents set through the admin API (html, waf, headers, egress) as JSON,
-- applied over the configuration file's values at start.
CREATE TABLE policy_docs (
	name    TEXT PRIMARY KEY,
	doc     TEXT NOT NULL,
	updated INTEGER NOT NULL,
	by      TEXT NOT NULL
) WITHOUT ROWID;
`},
	{Version: 6, Name: "drop the (hour, count) indexes of the hourly rollups", SQL: `
-- Every count update of an hourly rollup row moved its entry in these indexes: with about a
-- thousand upserts per batch they cost the event writer a fifth of its throughput (50.9k ->
-- 64.4k events/s without them, same machine). The top-N query reads an hour's busiest
-- values by scanning that hour's rows of the primary key with a LIMIT sort instead, still
-- within its budget on a million events (DB.top).
DROP INDEX IF EXISTS ip_hours_count;
DROP INDEX IF EXISTS rule_hours_count;
DROP INDEX IF EXISTS path_hours_count;
`},
	{Version: 7, Name: "hourly counts per kind, severity and action", SQL: `
-- The total of an events query (DB.Events, Page.Total) over a long window: whole hours from
-- here (a month is 720 hours of a few dozen rows), whole minutes at the ends from
-- event_minutes, the last seconds from the events. Severity is here and not per minute, so
-- a severity filter reads its ragged ends (under an hour each) from the events. Written by
-- the event writer in the batch's transaction; trimmed by retention with the other rollups.
CREATE TABLE event_hours (
	hour     INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	severity TEXT NOT NULL,
	action   TEXT NOT NULL,
	count    INTEGER NOT NULL,
	PRIMARY KEY (hour, kind, severity, action)
) WITHOUT ROWID;
INSERT INTO event_hours
	SELECT ts / 1000000000 - (ts / 1000000000) % 3600 AS h, kind, severity, action, COUNT(*)
	FROM events GROUP BY h, kind, severity, action;
`},
	{Version: 8, Name: "packed hourly top-N rollups", SQL: `
-- One row per closed hour of ip_hours, rule_hours and path_hours (tbl names the table):
-- packed holds every (value, count) of that hour (uvarint length, value, uvarint count),
-- so a top-N query over a day sums 24 rows in Go instead of grouping some 100,000 rows.
-- events is the hour's total in event_hours when packed: a pack is used only while it
-- still matches, so late events never make an answer wrong (DB.top). Written by the event
-- writer after the hour ends; the hourly rows stay the truth and are kept.
CREATE TABLE top_packs (
	tbl    TEXT NOT NULL,
	hour   INTEGER NOT NULL,
	events INTEGER NOT NULL,
	packed BLOB NOT NULL,
	PRIMARY KEY (tbl, hour)
);
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
