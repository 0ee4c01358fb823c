package db

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"bulwark/core/event"
)

// Top-N packs: each closed hour of ip_hours, rule_hours and path_hours copied into one
// row of top_packs (migration 8), busiest value first, so a top-N query over a day reads 24 rows and sums
// their entries in Go instead of grouping every (hour, value) row in SQLite: with 5,000
// addresses an hour, a day is 115,000 rows, 38 ms of CPU for the GROUP BY alone. The
// hourly rows stay the truth: a pack is used only while its events count equals the
// hour's total in event_hours, so a pack that missed later events is never read.

// topTable is one of the hourly top-N rollups.
type topTable struct{ table, col string }

var topTables = []topTable{{"ip_hours", "ip"}, {"rule_hours", "rule"}, {"path_hours", "path"}}

// packGrace is how long after an hour ends (in event time: the newest event stored) the
// writer packs it. Events reach the writer a few seconds out of order; a later one still
// lands, the pack just stops being used until the next repack.
const packGrace = 5 * time.Minute

// packPerStep bounds the hours per table packed after one batch, so catching up on an
// old store (an upgrade) never holds the writer connection for long.
const packPerStep = 4

// appendPack appends one entry: uvarint length, the value's bytes, uvarint count. Values
// are arbitrary bytes (a path may hold a tab or a newline), hence lengths, not separators.
func appendPack(b []byte, v string, c int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = append(b, v...)
	return binary.AppendUvarint(b, uint64(c))
}

var errBadPack = errors.New("top_packs: malformed pack")

// eachPack calls f for every entry of b; v aliases b.
func eachPack(b []byte, f func(v []byte, c int64)) error {
	return eachPackWhile(b, func(v []byte, c int64) bool { f(v, c); return true })
}

// eachPackWhile calls f for the entries of b until f returns false.
func eachPackWhile(b []byte, f func(v []byte, c int64) bool) error {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return errBadPack
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		c, k := binary.Uvarint(b)
		if k <= 0 {
			return errBadPack
		}
		b = b[k:]
		if !f(v, int64(c)) {
			return nil
		}
	}
	return nil
}

// packHour (re)writes the pack of one hour of t from its rows, in tx.
func packHour(ctx context.Context, tx *sql.Tx, t topTable, hour int64) error {
	var events int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(SUM(count), 0) FROM event_hours WHERE hour = ?`, hour).Scan(&events); err != nil {
		return err
	}
	// t is a constant of this file, never input.
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %[1]s, count FROM %[2]s WHERE hour = ? ORDER BY count DESC, %[1]s`, t.col, t.table), hour)
	if err != nil {
		return err
	}
	defer rows.Close()
	var b []byte
	var v sql.RawBytes
	var c int64
	for rows.Next() {
		if err := rows.Scan(&v, &c); err != nil {
			return err
		}
		b = appendPack(b, string(v), c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	if b == nil {
		b = []byte{}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO top_packs (tbl, hour, events, packed) VALUES (?, ?, ?, ?)
		ON CONFLICT (tbl, hour) DO UPDATE SET events = excluded.events, packed = excluded.packed`, t.table, hour, events, b)
	return err
}

// packer is the writer's bookkeeping of packs; only the writer goroutine uses it.
type packer struct {
	next   map[string]int64 // per table: hours below are packed (or empty)
	newest int64            // newest event stored, Unix seconds
	stale  map[int64]bool   // packed hours that received events since
	off    bool             // a setup error: no packing (queries read the rows)
}

// init reads where packing stopped from the store.
func (p *packer) init(ctx context.Context, d *DB) error {
	p.next, p.stale = map[string]int64{}, map[int64]bool{}
	var newest sql.NullInt64
	if err := d.r.QueryRowContext(ctx, `SELECT MAX(ts) FROM events`).Scan(&newest); err != nil {
		return err
	}
	p.newest = floorTo(newest.Int64, int64(time.Second)) / int64(time.Second) // 0 when empty
	for _, t := range topTables {
		var last, first sql.NullInt64
		if err := d.r.QueryRowContext(ctx, `SELECT MAX(hour) FROM top_packs WHERE tbl = ?`, t.table).Scan(&last); err != nil {
			return err
		}
		if last.Valid {
			p.next[t.table] = last.Int64 + 3600
			continue
		}
		if err := d.r.QueryRowContext(ctx, `SELECT MIN(hour) FROM `+t.table).Scan(&first); err != nil {
			return err
		}
		if first.Valid {
			p.next[t.table] = first.Int64
		} else {
			p.next[t.table] = -1 << 62
		}
	}
	return nil
}

// saw notes a committed batch; it reports whether there is packing to do.
func (p *packer) saw(batch []event.Event) bool {
	if p.off {
		return false
	}
	for i := range batch {
		sec := batch[i].TS.Unix()
		p.newest = max(p.newest, sec)
		h := floorTo(sec, 3600)
		for _, t := range topTables {
			if h < p.next[t.table] {
				p.stale[h] = true
			}
		}
	}
	return p.due()
}

// lastPackable is the start of the newest hour that ended packGrace before the newest event.
func (p *packer) lastPackable() int64 {
	return floorTo(p.newest-int64(packGrace/time.Second), 3600) - 3600
}

func (p *packer) due() bool {
	last := p.lastPackable()
	for _, t := range topTables {
		if p.next[t.table] <= last {
			return true
		}
	}
	return false
}

// step packs up to packPerStep newly closed hours per table and, with repack, the packed
// hours that received late events. It returns the new next marks, for the caller to
// apply once tx commits.
func (p *packer) step(ctx context.Context, tx *sql.Tx, repack bool) (map[string]int64, error) {
	next := map[string]int64{}
	last := p.lastPackable()
	for _, t := range topTables {
		n := p.next[t.table]
		if repack {
			for _, h := range sortedHours(p.stale) {
				if h < n {
					if err := packHour(ctx, tx, t, h); err != nil {
						return nil, fmt.Errorf("repack %s hour %d: %w", t.table, h, err)
					}
				}
			}
		}
		for i := 0; i < packPerStep && n <= last; i++ {
			var h sql.NullInt64
			// t is a constant of this file, never input.
			if err := tx.QueryRowContext(ctx, `SELECT MIN(hour) FROM `+t.table+` WHERE hour >= ? AND hour <= ?`, n, last).Scan(&h); err != nil {
				return nil, err
			}
			if !h.Valid { // nothing more to pack up to last: empty hours have no pack
				n = last + 3600
				break
			}
			if err := packHour(ctx, tx, t, h.Int64); err != nil {
				return nil, fmt.Errorf("pack %s hour %d: %w", t.table, h.Int64, err)
			}
			n = h.Int64 + 3600
		}
		next[t.table] = n
	}
	return next, nil
}

func sortedHours(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}
