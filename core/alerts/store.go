package alerts

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"bulwark/core/adminapi"
	"bulwark/db"
)

// Store persists rules, channels and firings.
type Store interface {
	Load(ctx context.Context) (rules []adminapi.Rule, channels []adminapi.Channel, history []adminapi.Firing, err error)
	PutRule(ctx context.Context, r adminapi.Rule) error
	DeleteRule(ctx context.Context, id string) error
	PutChannel(ctx context.Context, c adminapi.Channel) error
	DeleteChannel(ctx context.Context, name string) error
	PutFiring(ctx context.Context, f adminapi.Firing) error
}

// DBStore keeps everything in the appliance's SQLite database (tables alerts_*).
type DBStore struct{ DB *db.DB }

// historyLoad is how many firings are loaded back at start.
const historyLoad = 1000

// Load reads rules, channels and the newest firings (newest first).
func (s DBStore) Load(ctx context.Context) ([]adminapi.Rule, []adminapi.Channel, []adminapi.Firing, error) {
	var rules []adminapi.Rule
	var chans []adminapi.Channel
	var hist []adminapi.Firing
	r := s.DB.Reader()
	if err := scanDocs(ctx, r, `SELECT doc FROM alerts_rules ORDER BY id`, func(b []byte) error {
		var x adminapi.Rule
		err := json.Unmarshal(b, &x)
		rules = append(rules, x)
		return err
	}); err != nil {
		return nil, nil, nil, err
	}
	if err := scanDocs(ctx, r, `SELECT doc FROM alerts_channels ORDER BY name`, func(b []byte) error {
		var x adminapi.Channel
		err := json.Unmarshal(b, &x)
		chans = append(chans, x)
		return err
	}); err != nil {
		return nil, nil, nil, err
	}
	if err := scanDocs(ctx, r, fmt.Sprintf(`SELECT doc FROM alerts_history ORDER BY id DESC LIMIT %d`, historyLoad), func(b []byte) error {
		var x adminapi.Firing
		err := json.Unmarshal(b, &x)
		hist = append(hist, x)
		return err
	}); err != nil {
		return nil, nil, nil, err
	}
	return rules, chans, hist, nil
}

func scanDocs(ctx context.Context, r *sql.DB, q string, each func([]byte) error) error {
	rows, err := r.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("alerts store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if err := each(b); err != nil {
			return fmt.Errorf("alerts store: damaged row: %w", err)
		}
	}
	return rows.Err()
}

func (s DBStore) exec(ctx context.Context, q string, args ...any) error {
	return s.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

// PutRule inserts or replaces a rule.
func (s DBStore) PutRule(ctx context.Context, r adminapi.Rule) error {
	b, _ := json.Marshal(r)
	return s.exec(ctx, `INSERT INTO alerts_rules(id, doc) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc`, r.ID, string(b))
}

// DeleteRule removes a rule.
func (s DBStore) DeleteRule(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM alerts_rules WHERE id = ?`, id)
}

// PutChannel inserts or replaces a channel.
func (s DBStore) PutChannel(ctx context.Context, c adminapi.Channel) error {
	b, _ := json.Marshal(c)
	return s.exec(ctx, `INSERT INTO alerts_channels(name, doc) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc`, c.Name, string(b))
}

// DeleteChannel removes a channel.
func (s DBStore) DeleteChannel(ctx context.Context, name string) error {
	return s.exec(ctx, `DELETE FROM alerts_channels WHERE name = ?`, name)
}

// PutFiring inserts or updates a firing.
func (s DBStore) PutFiring(ctx context.Context, f adminapi.Firing) error {
	b, _ := json.Marshal(f)
	return s.exec(ctx, `INSERT INTO alerts_history(id, ts, doc) VALUES(?, ?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc`, f.ID, f.TS.UnixNano(), string(b))
}
