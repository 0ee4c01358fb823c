package admin

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"bulwark/core/adminapi"
)

// AuditLog stores every change made through the API.
type AuditLog interface {
	Record(ctx context.Context, e adminapi.AuditEntry) error
	List(ctx context.Context, limit int) ([]adminapi.AuditEntry, error)
}

// AuditSchema creates the audit table (also appended to db/migrations.go).
const AuditSchema = `CREATE TABLE IF NOT EXISTS admin_audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	ts     INTEGER NOT NULL,
	client TEXT NOT NULL,
	role   TEXT NOT NULL,
	method TEXT NOT NULL,
	path   TEXT NOT NULL,
	status INTEGER NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS admin_audit_ts ON admin_audit(ts);`

// SQLAudit is the audit log in the appliance's SQLite database.
type SQLAudit struct{ db *sql.DB }

// NewSQLAudit uses db, creating the table if the migrations have not.
func NewSQLAudit(db *sql.DB) (*SQLAudit, error) {
	if _, err := db.Exec(AuditSchema); err != nil {
		return nil, fmt.Errorf("audit table: %w", err)
	}
	return &SQLAudit{db: db}, nil
}

// Record appends one entry.
func (a *SQLAudit) Record(ctx context.Context, e adminapi.AuditEntry) error {
	if e.TS.IsZero() {
		e.TS = time.Now()
	}
	_, err := a.db.ExecContext(ctx, `INSERT INTO admin_audit(ts, client, role, method, path, status, detail) VALUES(?,?,?,?,?,?,?)`,
		e.TS.UnixNano(), e.Client, e.Role, e.Method, e.Path, e.Status, e.Detail)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// List returns the newest entries first.
func (a *SQLAudit) List(ctx context.Context, limit int) ([]adminapi.AuditEntry, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT id, ts, client, role, method, path, status, detail FROM admin_audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	out := []adminapi.AuditEntry{}
	for rows.Next() {
		var e adminapi.AuditEntry
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.Client, &e.Role, &e.Method, &e.Path, &e.Status, &e.Detail); err != nil {
			return nil, err
		}
		e.TS = time.Unix(0, ts).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
