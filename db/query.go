package db

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"bulwark/core/event"
)

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("not found")

// FilterError is a query parameter that cannot be used, named so the admin API can answer
// {"error": ..., "field": ...}.
type FilterError struct {
	Field string
	Msg   string
}

func (e *FilterError) Error() string { return e.Field + ": " + e.Msg }

// Page sizes of Events.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// maxBuckets bounds a Series so a careless request cannot make the appliance build an
// arbitrarily large answer (a year in minutes is 525,600).
const maxBuckets = 20000

// maxListLen bounds the "any of" lists of an EventFilter.
const maxListLen = 64

// Series is a chart: event counts per bucket of Step, starting at Start. Bucket i covers
// [Start+i*Step, Start+(i+1)*Step). Every slice has the same length.
type Series struct {
	Start    time.Time
	Step     time.Duration
	Total    []int64
	ByKind   map[event.Kind][]int64   // only kinds that occur
	ByAction map[event.Action][]int64 // only actions that occur
}

// Series counts events per bucket of step (a whole number of minutes, at least one) from
// the per-minute rollups (minute_counts: one row per minute). The window starts at since floored to the minute and includes
// every minute that starts before until.
func (d *DB) Series(ctx context.Context, since, until time.Time, step time.Duration) (Series, error) {
	start, end, err := minuteWindow(since, until)
	if err != nil {
		return Series{}, err
	}
	if step < time.Minute || step%time.Minute != 0 {
		return Series{}, &FilterError{Field: "step", Msg: fmt.Sprintf("must be a whole number of minutes, got %s", step)}
	}
	stepSec := int64(step / time.Second)
	n := int((end - start + stepSec - 1) / stepSec)
	if n > maxBuckets {
		return Series{}, &FilterError{Field: "step", Msg: fmt.Sprintf("%d buckets is more than %d: use a longer step or a shorter window", n, maxBuckets)}
	}
	s := Series{
		Start:    time.Unix(start, 0).UTC(),
		Step:     step,
		Total:    make([]int64, n),
		ByKind:   map[event.Kind][]int64{},
		ByAction: map[event.Action][]int64{},
	}
	// CAST to BLOB: go-sqlite3 hands a TEXT column over as a Go string that database/sql then
	// copies again into the RawBytes; a BLOB is copied once.
	rows, err := d.r.QueryContext(ctx,
		`SELECT minute, CAST(counts AS BLOB) FROM minute_counts WHERE minute >= ? AND minute < ?`, start, end)
	if err != nil {
		return Series{}, fmt.Errorf("series: %w", err)
	}
	defer rows.Close()
	var (
		minute int64
		counts sql.RawBytes // parsed in place: no copy per row
	)
	byKind, byAction := seriesSet{n: n}, seriesSet{n: n}
	for rows.Next() {
		if err := rows.Scan(&minute, &counts); err != nil {
			return Series{}, fmt.Errorf("series: %w", err)
		}
		i := int((minute - start) / stepSec)
		err := eachCount(counts, func(kind, action []byte, c int64) {
			s.Total[i] += c
			byKind.get(kind)[i] += c
			byAction.get(action)[i] += c
		})
		if err != nil {
			return Series{}, fmt.Errorf("series: %w", err)
		}
	}
	for j, k := range byKind.names {
		s.ByKind[event.Kind(k)] = byKind.vals[j]
	}
	for j, a := range byAction.names {
		s.ByAction[event.Action(a)] = byAction.vals[j]
	}
	if err := rows.Err(); err != nil {
		return Series{}, fmt.Errorf("series: %w", err)
	}
	return s, nil
}

// Counts are totals over a window.
type Counts struct {
	Total    int64
	ByKind   map[event.Kind]int64
	ByAction map[event.Action]int64 // blocked vs logged vs ...
}

// Counts totals events per kind and per action over the window (minutes as in Series).
func (d *DB) Counts(ctx context.Context, since, until time.Time) (Counts, error) {
	start, end, err := minuteWindow(since, until)
	if err != nil {
		return Counts{}, err
	}
	rows, err := d.r.QueryContext(ctx, `SELECT kind, action, SUM(count) FROM event_minutes
		WHERE minute >= ? AND minute < ? GROUP BY kind, action`, start, end)
	if err != nil {
		return Counts{}, fmt.Errorf("counts: %w", err)
	}
	defer rows.Close()
	c := Counts{ByKind: map[event.Kind]int64{}, ByAction: map[event.Action]int64{}}
	for rows.Next() {
		var kind, action string
		var n int64
		if err := rows.Scan(&kind, &action, &n); err != nil {
			return Counts{}, fmt.Errorf("counts: %w", err)
		}
		c.Total += n
		c.ByKind[event.Kind(kind)] += n
		c.ByAction[event.Action(action)] += n
	}
	if err := rows.Err(); err != nil {
		return Counts{}, fmt.Errorf("counts: %w", err)
	}
	return c, nil
}

// minuteWindow turns [since, until) into rollup minute bounds in Unix seconds.
func minuteWindow(since, until time.Time) (start, end int64, err error) {
	if !until.After(since) {
		return 0, 0, &FilterError{Field: "until", Msg: "must be after since"}
	}
	start = floorTo(since.Unix(), 60)
	end = until.Unix()
	if until.Nanosecond() > 0 {
		end++ // a minute starting inside the last second still starts before until
	}
	return start, end, nil
}

// Top is one entry of a top-N list.
type Top struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// TopIPs lists the n client addresses with the most events in [since, until), most first.
func (d *DB) TopIPs(ctx context.Context, since, until time.Time, n int) ([]Top, error) {
	return d.top(ctx, "ip_hours", "ip", since, until, n)
}

// TopRules lists the n rules (WAF rule ids, limiter names, ...) that fired most.
func (d *DB) TopRules(ctx context.Context, since, until time.Time, n int) ([]Top, error) {
	return d.top(ctx, "rule_hours", "rule", since, until, n)
}

// TopPaths lists the n request paths that drew the most events.
func (d *DB) TopPaths(ctx context.Context, since, until time.Time, n int) ([]Top, error) {
	return d.top(ctx, "path_hours", "path", since, until, n)
}

// top answers exactly, without grouping every (hour, value) row of the window when a few
// values dominate (the usual shape of attack traffic):
//
//  1. the hours the window touches are read from the hourly rollup, busiest first (the
//     hour's primary-key rows with a LIMIT sort: an (hour, count) index cost the writer
//     more than it saved here, see migration 6): the topM values of each are the
//     candidates. A value that is no
//     candidate has at most the hour's topM-th count in each hour, so at most threshold,
//     the sum of those, in the whole window;
//  2. the candidates' exact counts: whole hours from the rollup, the ragged edges (under an
//     hour on each side) from the events, both by index lookups;
//  3. if the n-th candidate is above threshold no other value can reach the list and it is
//     exact. Otherwise (flat traffic) fall back to grouping every row of the window.
//
// table and col are constants of this file, never input.
func (d *DB) top(ctx context.Context, table, col string, since, until time.Time, n int) ([]Top, error) {
	if !until.After(since) {
		return nil, &FilterError{Field: "until", Msg: "must be after since"}
	}
	if n < 1 || n > MaxPageSize {
		return nil, &FilterError{Field: "n", Msg: fmt.Sprintf("must be 1..%d, got %d", MaxPageSize, n)}
	}
	w := splitHours(since, until)
	out, ok, err := d.topCandidates(ctx, table, col, w, n)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	if ok {
		return out, nil
	}
	q := fmt.Sprintf(`SELECT v, SUM(c) AS n FROM (
			SELECT %[2]s AS v, count AS c FROM %[1]s WHERE hour >= ? AND hour < ?
			UNION ALL
			SELECT %[2]s, 1 FROM events WHERE ts >= ? AND ts < ? AND %[2]s != ''
			UNION ALL
			SELECT %[2]s, 1 FROM events WHERE ts >= ? AND ts < ? AND %[2]s != ''
		) GROUP BY v ORDER BY n DESC, v LIMIT ?`, table, col)
	out, err = d.tops(ctx, q, w.hourFrom, w.hourTo, w.raw1From, w.raw1To, w.raw2From, w.raw2To, n)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	return out, nil
}

// topWindow is a top-N window split into whole hours [hourFrom, hourTo) (Unix seconds,
// possibly empty) and raw edges (Unix ns); coverFrom..coverTo are all the hours it touches.
type topWindow struct {
	hourFrom, hourTo   int64
	raw1From, raw1To   int64
	raw2From, raw2To   int64
	coverFrom, coverTo int64
}

func splitHours(since, until time.Time) topWindow {
	s, u := since.UTC(), until.UTC()
	w := topWindow{coverFrom: s.Truncate(time.Hour).Unix()}
	ce := u.Truncate(time.Hour)
	if ce.Before(u) {
		ce = ce.Add(time.Hour)
	}
	w.coverTo = ce.Unix()
	hs := s.Truncate(time.Hour)
	if hs.Before(s) {
		hs = hs.Add(time.Hour)
	}
	he := u.Truncate(time.Hour)
	if hs.Before(he) {
		w.hourFrom, w.hourTo = hs.Unix(), he.Unix()
		w.raw1From, w.raw1To = s.UnixNano(), hs.UnixNano()
		w.raw2From, w.raw2To = he.UnixNano(), u.UnixNano()
	} else {
		w.raw1From, w.raw1To = s.UnixNano(), u.UnixNano()
	}
	return w
}

// topCandidates is steps 1 to 3 of top; ok is false when the bound does not prove the
// answer exact.
func (d *DB) topCandidates(ctx context.Context, table, col string, w topWindow, n int) ([]Top, bool, error) {
	topM := max(2*n, 32)
	conn, err := d.r.Conn(ctx) // one connection for the few dozen small queries
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	cand := map[string]int64{}
	var threshold int64
	perHour, err := conn.PrepareContext(ctx, fmt.Sprintf(
		`SELECT %s, count FROM %s WHERE hour = ? ORDER BY count DESC LIMIT ?`, col, table))
	if err != nil {
		return nil, false, err
	}
	defer perHour.Close()
	for h := w.coverFrom; h < w.coverTo; h += 3600 {
		list, err := stmtTops(ctx, perHour, h, topM)
		if err != nil {
			return nil, false, err
		}
		for _, t := range list {
			cand[t.Value] = 0
		}
		if len(list) == topM {
			threshold += list[topM-1].Count
		}
	}
	if len(cand) == 0 {
		return nil, true, nil // the rollup has nothing in these hours: neither do the events
	}
	args := []any{w.hourFrom, w.hourTo}
	for v := range cand {
		args = append(args, v)
	}
	list := strings.Repeat(", ?", len(cand)-1)
	q := fmt.Sprintf(`SELECT %[2]s, SUM(count) FROM %[1]s WHERE hour >= ? AND hour < ? AND %[2]s IN (?%[3]s) GROUP BY %[2]s`,
		table, col, list)
	if err := addTops(ctx, conn, cand, q, args...); err != nil {
		return nil, false, err
	}
	for _, r := range [][2]int64{{w.raw1From, w.raw1To}, {w.raw2From, w.raw2To}} {
		if r[0] >= r[1] {
			continue
		}
		args[0], args[1] = r[0], r[1]
		q := fmt.Sprintf(`SELECT %[1]s, COUNT(*) FROM events WHERE ts >= ? AND ts < ? AND %[1]s IN (?%[2]s) GROUP BY %[1]s`,
			col, list)
		if err := addTops(ctx, conn, cand, q, args...); err != nil {
			return nil, false, err
		}
	}
	out := make([]Top, 0, len(cand))
	for v, c := range cand {
		if c > 0 {
			out = append(out, Top{Value: v, Count: c})
		}
	}
	slices.SortFunc(out, func(a, b Top) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return strings.Compare(a.Value, b.Value)
	})
	if len(out) > n {
		out = out[:n]
	}
	// Exact only when any value outside the candidates stays below the last place. With
	// threshold 0 every value of every hour was a candidate.
	if threshold > 0 && (len(out) < n || out[n-1].Count <= threshold) {
		return nil, false, nil
	}
	return out, true, nil
}

// addTops adds the (value, count) rows of q to m.
func addTops(ctx context.Context, conn *sql.Conn, m map[string]int64, q string, args ...any) error {
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	list, err := scanTops(rows)
	for _, t := range list {
		m[t.Value] += t.Count
	}
	return err
}

func (d *DB) tops(ctx context.Context, q string, args ...any) ([]Top, error) {
	rows, err := d.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanTops(rows)
}

func stmtTops(ctx context.Context, st *sql.Stmt, args ...any) ([]Top, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanTops(rows)
}

func scanTops(rows *sql.Rows) ([]Top, error) {
	defer rows.Close()
	var out []Top
	for rows.Next() {
		var t Top
		if err := rows.Scan(&t.Value, &t.Count); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// EventFilter selects events. Zero fields do not filter. Every value is passed to SQLite
// as a parameter, never spliced into SQL.
type EventFilter struct {
	Since      time.Time        // ts >= Since
	Until      time.Time        // ts < Until
	Kinds      []event.Kind     // any of
	Severities []event.Severity // any of
	Actions    []event.Action   // any of
	IP         string           // exact client address
	App        string           // exact app name
	Rule       string           // exact rule
	Text       string           // case-insensitive substring of path or detail (a full scan: combine with other filters)
	Cursor     string           // Page.Next of the previous page; "" for the newest events
	Limit      int              // page size, default DefaultPageSize, at most MaxPageSize
}

// Page is one page of events, newest first (by ts, then id).
type Page struct {
	Events []event.Event `json:"events"`
	Next   string        `json:"next,omitempty"` // cursor for the next (older) page; "" when this is the last
}

// Events returns one page of the events matching f, newest first. Paging is by keyset
// (the last event's ts and id), so a page costs the same however deep it is and events
// written meanwhile neither shift nor repeat rows.
func (d *DB) Events(ctx context.Context, f EventFilter) (Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return Page{}, &FilterError{Field: "limit", Msg: fmt.Sprintf("must be 1..%d, got %d", MaxPageSize, f.Limit)}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return Page{}, &FilterError{Field: "until", Msg: "must be after since"}
	}
	for _, l := range []struct {
		field string
		n     int
	}{{"kinds", len(f.Kinds)}, {"severities", len(f.Severities)}, {"actions", len(f.Actions)}} {
		if l.n > maxListLen {
			return Page{}, &FilterError{Field: l.field, Msg: fmt.Sprintf("at most %d values, got %d", maxListLen, l.n)}
		}
	}
	var conds []string
	var args []any
	if !f.Since.IsZero() {
		conds, args = append(conds, "ts >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "ts < ?"), append(args, f.Until.UnixNano())
	}
	if f.Cursor != "" {
		ts, id, err := parseCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		// ts <= ? bounds the index walk; the OR picks up where the last page stopped.
		conds = append(conds, "ts <= ?", "(ts < ? OR id < ?)")
		args = append(args, ts, ts, id)
	}
	conds, args = in(conds, args, "kind", f.Kinds)
	conds, args = in(conds, args, "severity", f.Severities)
	conds, args = in(conds, args, "action", f.Actions)
	for _, eq := range []struct{ col, v string }{{"ip", f.IP}, {"app", f.App}, {"rule", f.Rule}} {
		if eq.v != "" {
			conds, args = append(conds, eq.col+" = ?"), append(args, eq.v)
		}
	}
	if f.Text != "" {
		t := strings.ToLower(f.Text)
		conds = append(conds, "(instr(lower(path), ?) > 0 OR instr(lower(coalesce(detail, '')), ?) > 0)")
		args = append(args, t, t)
	}
	q := `SELECT id, ts, kind, severity, action, ip, method, host, path, app, rule, detail FROM events`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY ts DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := d.r.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	p := Page{Events: make([]event.Event, 0, min(limit, 128))}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return Page{}, fmt.Errorf("events: %w", err)
		}
		p.Events = append(p.Events, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("events: %w", err)
	}
	if len(p.Events) > limit {
		p.Events = p.Events[:limit]
		last := p.Events[limit-1]
		p.Next = strconv.FormatInt(last.TS.UnixNano(), 10) + "." + strconv.FormatInt(last.ID, 10)
	}
	return p, nil
}

// Event returns the event with id, or an error wrapping ErrNotFound.
func (d *DB) Event(ctx context.Context, id int64) (event.Event, error) {
	row := d.r.QueryRowContext(ctx,
		`SELECT id, ts, kind, severity, action, ip, method, host, path, app, rule, detail FROM events WHERE id = ?`, id)
	e, err := scanEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("event %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("event %d: %w", id, err)
	}
	return e, nil
}

func scanEvent(r interface{ Scan(...any) error }) (event.Event, error) {
	var e event.Event
	var ts int64
	var kind, sev, action string
	var detail sql.NullString
	if err := r.Scan(&e.ID, &ts, &kind, &sev, &action, &e.IP, &e.Method, &e.Host, &e.Path, &e.App, &e.Rule, &detail); err != nil {
		return e, err
	}
	e.TS = time.Unix(0, ts).UTC()
	e.Kind, e.Severity, e.Action = event.Kind(kind), event.Severity(sev), event.Action(action)
	if detail.Valid {
		e.Detail = json.RawMessage(detail.String)
	}
	return e, nil
}

func in[T ~string](conds []string, args []any, col string, vs []T) ([]string, []any) {
	if len(vs) == 0 {
		return conds, args
	}
	// Events checked len(vs) <= maxListLen, far below SQLite's parameter limit.
	conds = append(conds, col+" IN (?"+strings.Repeat(", ?", len(vs)-1)+")")
	for _, v := range vs {
		args = append(args, string(v))
	}
	return conds, args
}

func parseCursor(c string) (ts, id int64, err error) {
	bad := &FilterError{Field: "cursor", Msg: fmt.Sprintf("%.40q is not a cursor from a previous page", c)}
	a, b, ok := strings.Cut(c, ".")
	if !ok {
		return 0, 0, bad
	}
	ts, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || id < 1 {
		return 0, 0, bad
	}
	return ts, id, nil
}
