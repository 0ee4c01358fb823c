package policy

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"bulwark/core/guard"
	"bulwark/db"
)

// Store reads and writes the policy tables of the appliance's database.
type Store struct{ DB *db.DB }

// SavedBans returns the bans still in force at now and deletes the expired rows.
func (s Store) SavedBans(ctx context.Context, now time.Time) ([]guard.Ban, error) {
	if err := s.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM policy_bans WHERE until <= ?`, now.UnixNano())
		return err
	}); err != nil {
		return nil, fmt.Errorf("bans: dropping expired: %w", err)
	}
	rows, err := s.DB.Reader().QueryContext(ctx, `SELECT ip, rule, reason, created, until, offense FROM policy_bans WHERE until > ?`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("bans: %w", err)
	}
	defer rows.Close()
	var out []guard.Ban
	for rows.Next() {
		var ip string
		var created, until int64
		var b guard.Ban
		if err := rows.Scan(&ip, &b.Rule, &b.Reason, &created, &until, &b.Offense); err != nil {
			return nil, fmt.Errorf("bans: %w", err)
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue // a row this version cannot enforce (e.g. a network): the deny list is for those
		}
		b.Addr, b.Created, b.Expires = a, time.Unix(0, created), time.Unix(0, until)
		out = append(out, b)
	}
	return out, rows.Err()
}

// banChange is one pending write of the ban writer.
type banChange struct {
	b       guard.Ban
	removed bool
}

func (s Store) writeBans(ctx context.Context, changes []banChange) error {
	return s.DB.Write(ctx, func(tx *sql.Tx) error {
		for _, c := range changes {
			var err error
			if c.removed {
				_, err = tx.ExecContext(ctx, `DELETE FROM policy_bans WHERE ip = ?`, c.b.Addr.String())
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO policy_bans (ip, rule, reason, created, until, offense) VALUES (?, ?, ?, ?, ?, ?)
					ON CONFLICT (ip) DO UPDATE SET rule = excluded.rule, reason = excluded.reason, created = excluded.created, until = excluded.until, offense = excluded.offense`,
					c.b.Addr.String(), c.b.Rule, c.b.Reason, c.b.Created.UnixNano(), c.b.Expires.UnixNano(), max(c.b.Offense, 1))
			}
			if err != nil {
				return fmt.Errorf("ban %s: %w", c.b.Addr, err)
			}
		}
		return nil
	})
}

// Entry is one operator-added allow or deny entry.
type Entry struct {
	List    string // "allow" or "deny"
	CIDR    string
	Note    string
	Created time.Time
	By      string
}

// Access returns the operator's entries of both lists, oldest first.
func (s Store) Access(ctx context.Context) ([]Entry, error) {
	rows, err := s.DB.Reader().QueryContext(ctx, `SELECT list, cidr, note, created, by FROM policy_access ORDER BY created, cidr`)
	if err != nil {
		return nil, fmt.Errorf("access lists: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var created int64
		if err := rows.Scan(&e.List, &e.CIDR, &e.Note, &created, &e.By); err != nil {
			return nil, fmt.Errorf("access lists: %w", err)
		}
		e.Created = time.Unix(0, created).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s Store) addAccess(ctx context.Context, e Entry) error {
	return s.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO policy_access (list, cidr, note, created, by) VALUES (?, ?, ?, ?, ?)`,
			e.List, e.CIDR, e.Note, e.Created.UnixNano(), e.By)
		if err != nil {
			return fmt.Errorf("%s list: saving %s: %w", e.List, e.CIDR, err)
		}
		return nil
	})
}

func (s Store) removeAccess(ctx context.Context, list, cidr string) error {
	return s.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM policy_access WHERE list = ? AND cidr = ?`, list, cidr)
		if err != nil {
			return fmt.Errorf("%s list: removing %s: %w", list, cidr, err)
		}
		return nil
	})
}

// Docs returns the saved policy documents by name.
func (s Store) Docs(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := s.DB.Reader().QueryContext(ctx, `SELECT name, doc FROM policy_docs`)
	if err != nil {
		return nil, fmt.Errorf("policy documents: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var name, doc string
		if err := rows.Scan(&name, &doc); err != nil {
			return nil, fmt.Errorf("policy documents: %w", err)
		}
		out[name] = json.RawMessage(doc)
	}
	return out, rows.Err()
}

func (s Store) putDoc(ctx context.Context, name string, doc []byte, by string) error {
	return s.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO policy_docs (name, doc, updated, by) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated, by = excluded.by`,
			name, string(doc), time.Now().UnixNano(), by)
		if err != nil {
			return fmt.Errorf("policy %s: saving: %w", name, err)
		}
		return nil
	})
}
