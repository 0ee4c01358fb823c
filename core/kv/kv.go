// Package kv is the key-value store behind an app's env.KV: one namespace per app in the
// appliance's SQLite file, with key and value size caps and a byte quota per app that is
// checked in the same transaction as the write, so concurrent puts cannot overshoot it.
//
// It stores bytes for names; it knows nothing of JavaScript (core/jsrt) or of how the
// supervisor routes an app's calls here (core/sandbox).
package kv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"bulwark/db"
)

// Limits that apply to every namespace. Zero fields in Options take these.
const (
	DefaultMaxKeyBytes   = 512
	DefaultMaxValueBytes = 1 << 20
	MaxListLimit         = 1000
)

// Errors a caller (and, through the runtime, the app) may see. Their text names the limit.
var (
	ErrEmptyKey = errors.New("kv: key is empty")
	ErrBadKey   = errors.New("kv: key must be valid UTF-8 without NUL bytes")
)

// LimitError is a put refused by a cap; Limit and Size are in bytes.
type LimitError struct {
	What  string // "key", "value" or "quota"
	Limit int64
	Size  int64
}

func (e *LimitError) Error() string {
	if e.What == "quota" {
		return fmt.Sprintf("kv: the app's KV quota of %d bytes would be exceeded (%d bytes)", e.Limit, e.Size)
	}
	return fmt.Sprintf("kv: %s is %d bytes; the limit is %d", e.What, e.Size, e.Limit)
}

// Options are the store-wide caps.
type Options struct {
	MaxKeyBytes   int
	MaxValueBytes int
}

// Store is the KV store of one appliance. Safe for concurrent use.
type Store struct {
	db   *db.DB
	opts Options
}

// New returns a store on d; the kv tables come from d's migrations.
func New(d *db.DB, opts Options) *Store {
	if opts.MaxKeyBytes <= 0 {
		opts.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = DefaultMaxValueBytes
	}
	return &Store{db: d, opts: opts}
}

// Namespace is one app's keys. QuotaBytes bounds the sum of len(key)+len(value) over its keys.
type Namespace struct {
	s          *Store
	app        string
	QuotaBytes int64
}

// Namespace returns app's namespace with the given quota (from the manifest or an override).
func (s *Store) Namespace(app string, quotaBytes int64) *Namespace {
	return &Namespace{s: s, app: app, QuotaBytes: quotaBytes}
}

// Page is one page of List.
type Page struct {
	Keys     []string
	Cursor   string // pass back to continue; "" when Complete
	Complete bool
}

func (n *Namespace) checkKey(key string) error {
	switch {
	case key == "":
		return ErrEmptyKey
	case !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0:
		return ErrBadKey
	case len(key) > n.s.opts.MaxKeyBytes:
		return &LimitError{What: "key", Limit: int64(n.s.opts.MaxKeyBytes), Size: int64(len(key))}
	}
	return nil
}

// Get returns the value of key and whether it exists.
func (n *Namespace) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := n.checkKey(key); err != nil {
		return nil, false, err
	}
	var v []byte
	err := n.s.db.Reader().QueryRowContext(ctx, `SELECT value FROM kv_entries WHERE app = ? AND key = ?`, n.app, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kv get: %w", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// Put stores value under key, refusing it if the app's quota would be exceeded.
func (n *Namespace) Put(ctx context.Context, key string, value []byte) error {
	if err := n.checkKey(key); err != nil {
		return err
	}
	if len(value) > n.s.opts.MaxValueBytes {
		return &LimitError{What: "value", Limit: int64(n.s.opts.MaxValueBytes), Size: int64(len(value))}
	}
	if value == nil {
		value = []byte{}
	}
	size := int64(len(key) + len(value))
	return n.s.db.Write(ctx, func(tx *sql.Tx) error {
		var old sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT length(key) + length(value) FROM kv_entries WHERE app = ? AND key = ?`, n.app, key).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("kv put: %w", err)
		}
		var used int64
		if err := tx.QueryRowContext(ctx, `SELECT bytes FROM kv_usage WHERE app = ?`, n.app).Scan(&used); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("kv put: %w", err)
		}
		next := used - old.Int64 + size
		if next > n.QuotaBytes && size > old.Int64 {
			return &LimitError{What: "quota", Limit: n.QuotaBytes, Size: next}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv_entries (app, key, value, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
			n.app, key, value, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("kv put: %w", err)
		}
		newKeys := 0
		if !old.Valid {
			newKeys = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv_usage (app, bytes, keys) VALUES (?, ?, ?)
			ON CONFLICT (app) DO UPDATE SET bytes = ?, keys = keys + ?`, n.app, next, newKeys, next, newKeys); err != nil {
			return fmt.Errorf("kv put: %w", err)
		}
		return nil
	})
}

// Delete removes key; deleting a missing key is not an error.
func (n *Namespace) Delete(ctx context.Context, key string) error {
	if err := n.checkKey(key); err != nil {
		return err
	}
	return n.s.db.Write(ctx, func(tx *sql.Tx) error {
		var size sql.NullInt64
		err := tx.QueryRowContext(ctx, `DELETE FROM kv_entries WHERE app = ? AND key = ? RETURNING length(key) + length(value)`, n.app, key).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kv delete: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE kv_usage SET bytes = bytes - ?, keys = keys - 1 WHERE app = ?`, size.Int64, n.app)
		if err != nil {
			return fmt.Errorf("kv delete: %w", err)
		}
		return nil
	})
}

// prefixEnd is the smallest string greater than every string starting with prefix, or ""
// when there is none (a prefix of 0xFF bytes).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// List returns up to limit keys that start with prefix and sort after cursor, in byte order.
func (n *Namespace) List(ctx context.Context, prefix, cursor string, limit int) (Page, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	q := `SELECT key FROM kv_entries WHERE app = ? AND key >= ? AND key > ?`
	args := []any{n.app, prefix, cursor}
	if end := prefixEnd(prefix); prefix != "" && end != "" {
		q += ` AND key < ?`
		args = append(args, end)
	}
	q += ` ORDER BY key LIMIT ?`
	args = append(args, limit+1)
	rows, err := n.s.db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("kv list: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return Page{}, fmt.Errorf("kv list: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("kv list: %w", err)
	}
	if len(keys) > limit {
		keys = keys[:limit]
		return Page{Keys: keys, Cursor: keys[len(keys)-1]}, nil
	}
	return Page{Keys: keys, Complete: true}, nil
}

// Usage is the app's stored bytes (keys plus values) and key count.
func (n *Namespace) Usage(ctx context.Context) (bytes, keys int64, err error) {
	err = n.s.db.Reader().QueryRowContext(ctx, `SELECT bytes, keys FROM kv_usage WHERE app = ?`, n.app).Scan(&bytes, &keys)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return bytes, keys, err
}

// DropApp deletes every key of app (when the app is removed).
func (s *Store) DropApp(ctx context.Context, app string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM kv_entries WHERE app = ?`, app); err != nil {
			return fmt.Errorf("kv drop %s: %w", app, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM kv_usage WHERE app = ?`, app); err != nil {
			return fmt.Errorf("kv drop %s: %w", app, err)
		}
		return nil
	})
}
