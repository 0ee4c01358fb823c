package admin

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"bulwark/core/adminapi"
	"bulwark/db"
)

// AuditLog stores every change made through the API.
type AuditLog interface {
	Record(ctx context.Context, e adminapi.AuditEntry) error
	List(ctx context.Context, limit int) ([]adminapi.AuditEntry, error)
}

// DBAudit is the audit log in the appliance's SQLite database (table admin_audit, created
// by the migration "admin audit trail" in db/migrations.go).
type DBAudit struct{ DB *db.DB }

// Record appends one entry.
func (a DBAudit) Record(ctx context.Context, e adminapi.AuditEntry) error {
	if e.TS.IsZero() {
		e.TS = time.Now()
	}
	err := a.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_audit(ts, client, role, method, path, status, detail) VALUES(?,?,?,?,?,?,?)`,
			e.TS.UnixNano(), e.Client, e.Role, e.Method, e.Path, e.Status, e.Detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// List returns the newest entries first.
func (a DBAudit) List(ctx context.Context, limit int) ([]adminapi.AuditEntry, error) {
	rows, err := a.DB.Reader().QueryContext(ctx, `SELECT id, ts, client, role, method, path, status, detail FROM admin_audit ORDER BY id DESC LIMIT ?`, limit)
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
