// Package db is the appliance's SQLite store: one file in the data folder holding the events
// of every verdict (with per-minute and per-hour rollups for the dashboard) and, through the
// migrations other packages append, their own tables (apps, versions, KV, audit, alerts,
// clients).
//
// One process owns the file. All writes go through one connection (the event writer and
// [DB.Write] take turns on it), so SQLite never returns "database is locked" to a request;
// queries run on a small pool of read-only connections that WAL lets proceed while a write
// is in progress. The package does not decide what to store: it gives other packages a
// read pool ([DB.Reader]) and serialized write transactions ([DB.Write]).
//
// Use: Open the file (migrations run); NewWriter(store, bus, cfg.Store) and Start it; query
// with Series, Counts, TopIPs/TopRules/TopPaths, Events and Event; at shutdown Stop the
// writer (it writes what is queued) and then Close the store. Tables of other packages are
// added as migrations (see migrations.go).
package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver (cgo)
)

// busyTimeout is how long a connection waits for a lock held by another process (the
// sqlite3 shell, a backup) before failing. Inside the appliance writers never contend.
const busyTimeout = 10 * time.Second

// readers is the size of the read-only pool: enough for the dashboard, the admin API and
// the detectors to query at once on a small machine, few enough to keep memory bounded.
const readers = 4

// DB is an open store. It is safe for concurrent use.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: every write goes through it
	r    *sql.DB // read-only connections
}

// SchemaError says the file was written by a newer bulwark than this one.
type SchemaError struct {
	Path  string
	Have  int // user_version found in the file
	Knows int // highest migration this binary has
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("database %s: schema version %d is newer than this bulwark (knows up to %d): upgrade bulwark",
		e.Path, e.Have, e.Knows)
}

// Open opens (creating if needed) the database at path and applies pending migrations,
// each in its own transaction. The folder must exist. A file that is not SQLite, is corrupt,
// or has a newer schema than this binary knows is refused with an error naming path.
func Open(path string) (*DB, error) {
	return open(path, migrations)
}

func open(path string, list []Migration) (*DB, error) {
	if err := checkMigrations(list); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite3", dsn(path, "_journal_mode=WAL", "_synchronous=NORMAL", "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	d := &DB{path: path, w: w}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fileError(path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("database %s: could not switch to WAL journal (got %q)", path, mode)
	}
	// Checkpoint (copy the WAL into the file, with an fsync) every 64 MiB instead of SQLite's
	// 4 MiB: the writer pays for it inside a batch commit, and the hot index pages rewritten
	// by many batches are copied once per checkpoint, so fewer and larger is cheaper
	// (writer benchmark, same-run A/B: 16 MiB 47-50k, 64 MiB 56-59k events/s).
	if _, err := w.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 16384"); err != nil {
		w.Close()
		return nil, fileError(path, err)
	}
	if err := d.migrate(ctx, list); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", dsn(path, "_query_only=true"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fileError(path, err)
	}
	d.r = r
	return d, nil
}

// dsn builds a go-sqlite3 URI; the settings every connection shares come first.
func dsn(path string, extra ...string) string {
	// SQLite decodes %HH in file: URIs and go-sqlite3 splits on the first '?'; escape both.
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	params := append([]string{
		fmt.Sprintf("_busy_timeout=%d", busyTimeout.Milliseconds()),
		"_foreign_keys=on",
		"_cache_size=-16384", // 16 MiB page cache per connection
	}, extra...)
	return "file:" + esc + "?" + strings.Join(params, "&")
}

// checkFile refuses a path that exists but is not an SQLite file, before SQLite sees it, so
// the error names the file instead of a later query.
func checkFile(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("database %s: folder: %w", path, err)
	} else if !st.IsDir() {
		return fmt.Errorf("database %s: %s is not a folder", path, dir)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("database %s: is a folder, not a file", path)
	}
	head := make([]byte, 16)
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF) {
		return nil // empty file: SQLite initializes it
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("database %s: %w", path, err)
	}
	if !bytes.Equal(head[:n], []byte("SQLite format 3\x00")) {
		return fmt.Errorf("database %s: not an SQLite database (bad header); move it away or restore a backup", path)
	}
	return nil
}

// fileError names the file and says what to do when SQLite reports damage.
func fileError(path string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "malformed") || strings.Contains(msg, "not a database") || strings.Contains(msg, "corrupt") {
		return fmt.Errorf("database %s: corrupt (%v); move it away or restore a backup", path, err)
	}
	return fmt.Errorf("database %s: %w", path, err)
}

// Path is the file the store was opened from.
func (d *DB) Path() string { return d.path }

// Reader is the pool for queries. Its connections are read-only (query_only): a write
// through it fails, so every write goes through [DB.Write]. Safe for concurrent use.
func (d *DB) Reader() *sql.DB { return d.r }

// Write runs fn in an IMMEDIATE transaction on the single writer connection and commits if
// fn returns nil (rolls back otherwise). Writers are served one at a time, so fn must be
// short: it shares the connection with the event writer, whose batches wait behind it.
// Never call Write from inside fn (it would wait for itself).
func (d *DB) Write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database %s: begin: %w", d.path, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("database %s: commit: %w", d.path, err)
	}
	return nil
}

// SchemaVersion is the migration version the file is at.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// Close checkpoints the WAL and closes every connection.
func (d *DB) Close() error {
	var errs []error
	if d.r != nil {
		errs = append(errs, d.r.Close())
	}
	// Fold the WAL back so the file alone is a complete copy (backups, the sqlite3 shell).
	_, err := d.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	errs = append(errs, err, d.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("database %s: close: %w", d.path, err)
	}
	return nil
}
