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

// top answers exactly, in one read transaction. The window is whole hours plus ragged
// ends; an end is whichever is shorter: the part of its hour inside the window (events
// added), or the whole hour less the part outside (events subtracted), so no end reads
// more than half an hour of events and a window ending now reads almost none (the open
// hour less the events after now). Each whole hour is its pack (top_packs: every value of
// a closed hour in one row, busiest first) while the pack still matches the hour's total
// in event_hours, otherwise its rows of the hourly rollup.
//
//  1. Candidates: the busiest topM values of every hour the window touches (the head of
//     each pack). A value that is no candidate has at most the hour's topM-th count in
//     each hour, so at most threshold, the sum of those, in the window.
//  2. The candidates' exact counts: packs searched, rows by primary key, events by index
//     (ip and rule from their (column, ts) indexes alone; path through the ts index).
//  3. If the n-th candidate is above threshold no other value can reach the list and it is
//     exact. Otherwise (flat traffic: no value stands out) every value is summed: all of
//     each pack, the rows, and the ends grouped from the events.
//
// Step 3 is also taken at once when even the candidates' upper bounds cannot beat the
// threshold. table and col are constants of this file, never input.
func (d *DB) top(ctx context.Context, table, col string, since, until time.Time, n int) ([]Top, error) {
	if !until.After(since) {
		return nil, &FilterError{Field: "until", Msg: "must be after since"}
	}
	if n < 1 || n > MaxPageSize {
		return nil, &FilterError{Field: "n", Msg: fmt.Sprintf("must be 1..%d, got %d", MaxPageSize, n)}
	}
	tt := topTable{table, col}
	p := planTop(since, until)
	tx, err := d.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	defer tx.Rollback()
	// Every hour the window touches: the ends' hours bound what the ends can add.
	cover := floorTo(since.Unix(), 3600)
	coverTo := ceilTo(until.Unix()+min(int64(until.Nanosecond()), 1), 3600)
	hours, err := loadHours(ctx, tx, tt, min(cover, p.hourFrom), max(coverTo, p.hourTo))
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	out, ok, err := topCandidates(ctx, tx, tt, p, hours, n)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	if ok {
		return out, nil
	}
	var t tally
	if err := t.addHours(ctx, tx, tt, hours, p.hourFrom, p.hourTo); err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	for _, r := range p.raw {
		if r.from >= r.to {
			continue
		}
		q := fmt.Sprintf(`SELECT %[1]s, COUNT(*) FROM events WHERE ts >= ? AND ts < ? AND %[1]s != '' GROUP BY %[1]s`, col)
		if err := t.addRows(ctx, tx, r.sign, q, r.from, r.to); err != nil {
			return nil, fmt.Errorf("top %s: %w", col, err)
		}
	}
	return t.top(n), nil
}

// hourPacks holds the usable packs of a span of hours; an hour missing from it is read
// from the hourly rows.
type hourPacks map[int64][]byte

// loadHours reads the packs of [from, to) that still match event_hours.
func loadHours(ctx context.Context, tx *sql.Tx, tt topTable, from, to int64) (hourPacks, error) {
	hp := hourPacks{}
	if from >= to {
		return hp, nil
	}
	totals := map[int64]int64{}
	rows, err := tx.QueryContext(ctx, `SELECT hour, SUM(count) FROM event_hours WHERE hour >= ? AND hour < ? GROUP BY hour`, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var h, c int64
		if err := rows.Scan(&h, &c); err != nil {
			rows.Close()
			return nil, err
		}
		totals[h] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT hour, events, packed FROM top_packs WHERE tbl = ? AND hour >= ? AND hour < ?`, tt.table, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h, events int64
		var b []byte
		if err := rows.Scan(&h, &events, &b); err != nil {
			return nil, err
		}
		if events == totals[h] { // else events arrived after packing: the rows have them
			hp[h] = b
		}
	}
	return hp, rows.Err()
}

// gaps calls f for each run of hours in [from, to) without a pack.
func (hp hourPacks) gaps(from, to int64, f func(from, to int64) error) error {
	for h := from; h < to; {
		if _, ok := hp[h]; ok {
			h += 3600
			continue
		}
		end := h + 3600
		for _, ok := hp[end]; end < to && !ok; _, ok = hp[end] {
			end += 3600
		}
		if err := f(h, end); err != nil {
			return err
		}
		h = end
	}
	return nil
}

// topCandidates is steps 1 to 3 of top; ok is false when the bound does not prove the
// answer exact.
func topCandidates(ctx context.Context, tx *sql.Tx, tt topTable, p topPlan, hp hourPacks, n int) ([]Top, bool, error) {
	topM := max(2*n, 32)
	type cand struct{ listed, bound, exact int64 }
	cands := map[string]*cand{}
	var threshold int64
	seen := func(v []byte, c int64) {
		k, ok := cands[string(v)]
		if !ok {
			k = &cand{}
			cands[string(v)] = k
		}
		k.listed += c
	}
	// kth per hour, to turn listed counts into upper bounds afterwards.
	type hourList struct {
		kth    int64
		values []string
	}
	var lists []hourList
	perHour, err := tx.PrepareContext(ctx, fmt.Sprintf(`SELECT %s, count FROM %s WHERE hour = ? ORDER BY count DESC LIMIT ?`, tt.col, tt.table))
	if err != nil {
		return nil, false, err
	}
	defer perHour.Close()
	for h := range hoursOf(hp, p) {
		var l hourList
		add := func(v []byte, c int64) {
			seen(v, c)
			l.values = append(l.values, string(v))
			l.kth = c
		}
		full := false
		if b, ok := hp[h]; ok {
			i := 0
			err := eachPackWhile(b, func(v []byte, c int64) bool {
				if i == topM {
					full = true
					return false
				}
				add(v, c)
				i++
				return true
			})
			if err != nil {
				return nil, false, err
			}
		} else {
			rows, err := perHour.QueryContext(ctx, h, topM+1)
			if err != nil {
				return nil, false, err
			}
			var v sql.RawBytes
			var c int64
			i := 0
			for rows.Next() {
				if err := rows.Scan(&v, &c); err != nil {
					rows.Close()
					return nil, false, err
				}
				if i == topM {
					full = true
					break
				}
				add(v, c)
				i++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, false, err
			}
		}
		if full {
			threshold += l.kth
			lists = append(lists, l)
		}
	}
	if len(cands) == 0 {
		return nil, true, nil // no hour the window touches has a value
	}
	if threshold > 0 {
		// Upper bound of a candidate: its listed counts, and the kth of every full hour
		// that did not list it. If not even n candidates can beat threshold, skip step 2.
		for _, l := range lists {
			for _, v := range l.values {
				cands[v].bound -= l.kth
			}
		}
		bounds := make([]int64, 0, len(cands))
		guesses := make([]int64, 0, len(cands))
		for _, k := range cands {
			bounds = append(bounds, k.listed+k.bound+threshold)
			// A guess, not a bound: half the kth where a value is not listed. Flat
			// traffic (every value listed in a few hours only) guesses below threshold
			// and goes straight to the full sum, which it would reach anyway; a value
			// that stands out is listed nearly everywhere. Either path is exact.
			guesses = append(guesses, k.listed+(k.bound+threshold)/2)
		}
		if len(bounds) < n {
			return nil, false, nil
		}
		slices.Sort(bounds)
		slices.Sort(guesses)
		if bounds[len(bounds)-n] <= threshold || guesses[len(guesses)-n] <= threshold {
			return nil, false, nil
		}
	}
	// Step 2: exact counts over the plan.
	list := make([]any, 0, len(cands)+2)
	list = append(list, int64(0), int64(0))
	for v := range cands {
		list = append(list, v)
	}
	in := "?" + strings.Repeat(", ?", len(cands)-1)
	for h := p.hourFrom; h < p.hourTo; h += 3600 {
		if b, ok := hp[h]; ok {
			if err := eachPack(b, func(v []byte, c int64) {
				if k, ok := cands[string(v)]; ok {
					k.exact += c
				}
			}); err != nil {
				return nil, false, err
			}
		}
	}
	addIn := func(sign int64, q string, from, to int64) error {
		list[0], list[1] = from, to
		return eachRowCount(ctx, tx, q, list, func(v []byte, c int64) {
			if k, ok := cands[string(v)]; ok {
				k.exact += sign * c
			}
		})
	}
	qHours := fmt.Sprintf(`SELECT %[2]s, SUM(count) FROM %[1]s WHERE hour >= ? AND hour < ? AND %[2]s IN (%[3]s) GROUP BY %[2]s`, tt.table, tt.col, in)
	if err := hp.gaps(p.hourFrom, p.hourTo, func(from, to int64) error { return addIn(1, qHours, from, to) }); err != nil {
		return nil, false, err
	}
	qRaw := fmt.Sprintf(`SELECT %[1]s, COUNT(*) FROM events WHERE ts >= ? AND ts < ? AND %[1]s IN (%[2]s) GROUP BY %[1]s`, tt.col, in)
	for _, r := range p.raw {
		if r.from < r.to {
			if err := addIn(r.sign, qRaw, r.from, r.to); err != nil {
				return nil, false, err
			}
		}
	}
	var t tally
	for v, k := range cands {
		t.values, t.counts = append(t.values, v), append(t.counts, k.exact)
	}
	out := t.top(n)
	// Exact only when any value outside the candidates stays below the last place. With
	// threshold 0 every value of every hour was a candidate.
	if threshold > 0 && (len(out) < n || out[n-1].Count <= threshold) {
		return nil, false, nil
	}
	return out, true, nil
}

// hoursOf lists every hour the plan touches: its whole hours and the hours of its ends.
func hoursOf(hp hourPacks, p topPlan) map[int64]bool {
	hs := map[int64]bool{}
	for h := p.hourFrom; h < p.hourTo; h += 3600 {
		hs[h] = true
	}
	for _, r := range p.raw {
		if r.from < r.to {
			hs[floorTo(r.from, nsHour)/int64(time.Second)] = true
			hs[floorTo(r.to-1, nsHour)/int64(time.Second)] = true
		}
	}
	return hs
}

// topPlan is a top-N window as whole hours [hourFrom, hourTo) (Unix seconds) and event
// ranges (Unix ns) added (sign 1) or taken away (sign -1).
type topPlan struct {
	hourFrom, hourTo int64
	raw              []topSpan
}

type topSpan struct{ from, to, sign int64 }

func planTop(since, until time.Time) topPlan {
	s, u := since.UnixNano(), until.UnixNano()
	a, b := ceilTo(s, nsHour), floorTo(u, nsHour)
	var p topPlan
	if a > b { // inside one hour
		hf := floorTo(s, nsHour)
		if u-s <= nsHour/2 {
			p.raw = []topSpan{{s, u, 1}}
			a, b = hf, hf
		} else {
			a, b = hf, hf+nsHour
			p.raw = []topSpan{{hf, s, -1}, {u, hf + nsHour, -1}}
		}
	} else {
		if s < a {
			if a-s <= nsHour/2 {
				p.raw = append(p.raw, topSpan{s, a, 1})
			} else {
				a -= nsHour
				p.raw = append(p.raw, topSpan{a, s, -1})
			}
		}
		if u > b {
			if u-b <= nsHour/2 {
				p.raw = append(p.raw, topSpan{b, u, 1})
			} else {
				p.raw = append(p.raw, topSpan{u, b + nsHour, -1})
				b += nsHour
			}
		}
	}
	p.hourFrom, p.hourTo = a/int64(time.Second), b/int64(time.Second)
	return p
}

// tally sums counts per value. Values are looked up by their bytes without a copy; a
// value is copied once, when first seen.
type tally struct {
	idx    map[string]int
	values []string
	counts []int64
}

func (t *tally) add(v []byte, c int64) {
	if t.idx == nil {
		t.idx = map[string]int{}
	}
	i, ok := t.idx[string(v)]
	if !ok {
		i = len(t.values)
		s := string(v)
		t.idx[s] = i
		t.values, t.counts = append(t.values, s), append(t.counts, 0)
	}
	t.counts[i] += c
}

// addRows adds sign times the (value, count) rows of q.
func (t *tally) addRows(ctx context.Context, tx *sql.Tx, sign int64, q string, args ...any) error {
	return eachRowCount(ctx, tx, q, args, func(v []byte, c int64) { t.add(v, sign*c) })
}

// eachRowCount calls f with each (value, count) row of q; v is only valid during the call.
func eachRowCount(ctx context.Context, tx *sql.Tx, q string, args []any, f func(v []byte, c int64)) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var v sql.RawBytes
	var c int64
	for rows.Next() {
		if err := rows.Scan(&v, &c); err != nil {
			return err
		}
		f(v, c)
	}
	return rows.Err()
}

// addHours adds every value of the hours [from, to) of tt: packs, and rows where none.
func (t *tally) addHours(ctx context.Context, tx *sql.Tx, tt topTable, hp hourPacks, from, to int64) error {
	for h := from; h < to; h += 3600 {
		if b, ok := hp[h]; ok {
			if err := eachPack(b, t.add); err != nil {
				return fmt.Errorf("%s hour %d: %w", tt.table, h, err)
			}
		}
	}
	q := fmt.Sprintf(`SELECT %[2]s, SUM(count) FROM %[1]s WHERE hour >= ? AND hour < ? GROUP BY %[2]s`, tt.table, tt.col)
	return hp.gaps(from, to, func(from, to int64) error { return t.addRows(ctx, tx, 1, q, from, to) })
}

// top is the n values with the highest positive counts, most first, ties by value.
func (t *tally) top(n int) []Top {
	before := func(a, b Top) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return strings.Compare(a.Value, b.Value)
	}
	// A sorted list of at most n kept by insertion: most values fall below its last place
	// and cost one comparison (a day can hold 50,000 addresses).
	out := make([]Top, 0, n+1)
	for i, v := range t.values {
		e := Top{Value: v, Count: t.counts[i]}
		if e.Count <= 0 || (len(out) == n && before(e, out[n-1]) > 0) {
			continue
		}
		j, _ := slices.BinarySearchFunc(out, e, before)
		out = slices.Insert(out, j, e)
		if len(out) > n {
			out = out[:n]
		}
	}
	return out
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
	// Total is how many events match the filter on all pages together (the cursor does not
	// count). It is counted on the first page, in the same snapshot as its Events, and
	// carried in Next, so every page of one listing reports the same Total and later pages
	// do not count again. When TotalCapped, at least Total match and counting stopped there
	// (see TotalCap).
	Total       int64 `json:"total"`
	TotalCapped bool  `json:"total_capped,omitempty"`
}

// TotalCap is where Page.Total stops counting when no rollup can answer the filter (ip,
// app, rule or text): counting the events themselves costs about 0.6 µs each (100,000:
// 61 ms on the 1M-event benchmark store; a rollup total costs under 1.1 ms).
const TotalCap = 100_000

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
	conds, args := filterConds(f)
	var cur cursor
	if f.Cursor != "" {
		var err error
		if cur, err = parseCursor(f.Cursor); err != nil {
			return Page{}, err
		}
		ts, id := cur.ts, cur.id
		// ts <= ? bounds the index walk; the OR picks up where the last page stopped.
		conds = append(conds, "ts <= ?", "(ts < ? OR id < ?)")
		args = append(args, ts, ts, id)
	}
	q := `SELECT id, ts, kind, severity, action, ip, method, host, path, app, rule, detail FROM events`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY ts DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	// One read transaction: the page and its total see the same snapshot, so a page never
	// shows events its total does not count.
	tx, err := d.r.BeginTx(ctx, nil)
	if err != nil {
		return Page{}, fmt.Errorf("events: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
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
	rows.Close()
	if cur.hasTotal {
		p.Total, p.TotalCapped = cur.total, cur.capped
	} else if p.Total, p.TotalCapped, err = total(ctx, tx, f); err != nil {
		return Page{}, fmt.Errorf("events: total: %w", err)
	}
	if len(p.Events) > limit {
		p.Events = p.Events[:limit]
		last := p.Events[limit-1]
		p.Next = cursor{ts: last.TS.UnixNano(), id: last.ID, total: p.Total, capped: p.TotalCapped}.String()
	}
	return p, nil
}

// filterConds is the WHERE of f without its cursor.
func filterConds(f EventFilter) ([]string, []any) {
	var conds []string
	var args []any
	if !f.Since.IsZero() {
		conds, args = append(conds, "ts >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "ts < ?"), append(args, f.Until.UnixNano())
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
	return conds, args
}

// total counts the events matching f (its cursor aside). A filter on time, kind,
// severity and action only is counted exactly from the rollups: whole hours from
// event_hours, whole minutes at the ends from event_minutes (or, with a severity filter,
// which event_minutes does not carry, the ends from the events), the rest from the events
// by the ts index. An end is added, or subtracted from its whole hour, whichever is
// shorter (as in top), so the events it reads are at most an hour (two minutes without
// severity) whatever the window, and almost none at an end that is now. Any other filter
// counts the matching events, stopping after TotalCap (capped = true).
func total(ctx context.Context, tx *sql.Tx, f EventFilter) (n int64, capped bool, err error) {
	if f.IP != "" || f.App != "" || f.Rule != "" || f.Text != "" {
		conds, args := filterConds(f)
		q := `SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE ` + strings.Join(conds, " AND ") + ` LIMIT ?)`
		if err := tx.QueryRowContext(ctx, q, append(args, TotalCap+1)...).Scan(&n); err != nil {
			return 0, false, err
		}
		if n > TotalCap {
			return TotalCap, true, nil
		}
		return n, false, nil
	}
	lo, hi := int64(0), int64(0) // [lo, hi) in Unix ns
	if f.Since.IsZero() || f.Until.IsZero() {
		// Two subqueries: SQLite answers a lone MIN or MAX from the index end, both in one
		// SELECT by scanning the table.
		var first, last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT MIN(ts) FROM events), (SELECT MAX(ts) FROM events)`).Scan(&first, &last); err != nil {
			return 0, false, err
		}
		if !first.Valid {
			return 0, false, nil
		}
		lo, hi = first.Int64, last.Int64+1
	}
	if !f.Since.IsZero() {
		lo = f.Since.UnixNano()
	}
	if !f.Until.IsZero() {
		hi = f.Until.UnixNano()
	}
	c := classCounter{ctx: ctx, tx: tx}
	c.where, c.args = in(nil, nil, "kind", f.Kinds)
	c.where, c.args = in(c.where, c.args, "action", f.Actions)
	withSev, sevArgs := in(slices.Clone(c.where), slices.Clone(c.args), "severity", f.Severities)
	c.sevWhere, c.sevArgs = withSev, sevArgs
	c.bySeverity = len(f.Severities) > 0
	n, err = c.count(lo, hi)
	return n, false, err
}

// classCounter counts events of some kinds, severities and actions in a time range from the
// rollups; see total.
type classCounter struct {
	ctx        context.Context
	tx         *sql.Tx
	where      []string // kind and action conditions (every table has those columns)
	args       []any
	sevWhere   []string // the same and the severity condition (event_hours and events)
	sevArgs    []any
	bySeverity bool
}

const (
	nsMinute = int64(time.Minute)
	nsHour   = int64(time.Hour)
)

// count splits [lo, hi) as top does (planTop): whole hours, and ends either added or
// subtracted from their whole hour, whichever reads less; an end is counted by minutes.
func (c *classCounter) count(lo, hi int64) (int64, error) {
	if lo >= hi {
		return 0, nil
	}
	p := planTop(time.Unix(0, lo), time.Unix(0, hi))
	var n int64
	if p.hourFrom < p.hourTo {
		var err error
		if n, err = c.sum(`SELECT SUM(count) FROM event_hours WHERE hour >= ? AND hour < ?`, c.sevWhere, c.sevArgs, p.hourFrom, p.hourTo); err != nil {
			return 0, err
		}
	}
	for _, r := range p.raw {
		m, err := c.minutes(r.from, r.to)
		if err != nil {
			return 0, err
		}
		n += r.sign * m
	}
	return n, nil
}

// minutes counts [lo, hi) from event_minutes and the events, or from the events alone
// under a severity filter.
func (c *classCounter) minutes(lo, hi int64) (int64, error) {
	if lo >= hi {
		return 0, nil
	}
	mFrom, mTo := ceilTo(lo, nsMinute), floorTo(hi, nsMinute)
	if c.bySeverity || mFrom >= mTo {
		return c.raw(lo, hi)
	}
	n, err := c.sum(`SELECT SUM(count) FROM event_minutes WHERE minute >= ? AND minute < ?`, c.where, c.args, mFrom/1e9, mTo/1e9)
	if err != nil {
		return 0, err
	}
	a, err := c.raw(lo, mFrom)
	if err != nil {
		return 0, err
	}
	b, err := c.raw(mTo, hi)
	return n + a + b, err
}

func (c *classCounter) raw(lo, hi int64) (int64, error) {
	if lo >= hi {
		return 0, nil
	}
	return c.sum(`SELECT COUNT(*) FROM events WHERE ts >= ? AND ts < ?`, c.sevWhere, c.sevArgs, lo, hi)
}

// sum runs q (a range condition on two parameters) with the conditions where added.
func (c *classCounter) sum(q string, where []string, args []any, from, to int64) (int64, error) {
	if len(where) > 0 {
		q += " AND " + strings.Join(where, " AND ")
	}
	var n sql.NullInt64
	err := c.tx.QueryRowContext(c.ctx, q, append([]any{from, to}, args...)...).Scan(&n)
	return n.Int64, err
}

// ceilTo rounds v up to a multiple of step.
func ceilTo(v, step int64) int64 {
	f := floorTo(v, step)
	if f < v {
		f += step
	}
	return f
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

// cursor is where the next page starts (the last event's ts and id) and the listing's
// total from its first page: "ts.id.total" or "ts.id.total.c" when capped. A cursor of
// two parts (ts.id) is accepted and the total counted again.
type cursor struct {
	ts, id   int64
	total    int64
	capped   bool
	hasTotal bool
}

func (c cursor) String() string {
	s := strconv.FormatInt(c.ts, 10) + "." + strconv.FormatInt(c.id, 10) + "." + strconv.FormatInt(c.total, 10)
	if c.capped {
		s += ".c"
	}
	return s
}

func parseCursor(c string) (cursor, error) {
	bad := &FilterError{Field: "cursor", Msg: fmt.Sprintf("%.40q is not a cursor from a previous page", c)}
	parts := strings.Split(c, ".")
	if len(parts) < 2 || len(parts) > 4 || (len(parts) == 4 && parts[3] != "c") {
		return cursor{}, bad
	}
	var cur cursor
	var err1, err2, err3 error
	cur.ts, err1 = strconv.ParseInt(parts[0], 10, 64)
	cur.id, err2 = strconv.ParseInt(parts[1], 10, 64)
	if len(parts) >= 3 {
		cur.total, err3 = strconv.ParseInt(parts[2], 10, 64)
		cur.hasTotal, cur.capped = true, len(parts) == 4
	}
	if err1 != nil || err2 != nil || err3 != nil || cur.id < 1 || cur.total < 0 {
		return cursor{}, bad
	}
	return cur, nil
}
