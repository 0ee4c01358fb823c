package db

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"bulwark/core/event"
)

// checkPacks compares every pack that is in use (its events count matches event_hours)
// with its hour's rows, and returns how many packs are in use.
func checkPacks(t *testing.T, d *DB) int {
	t.Helper()
	rows, err := d.Reader().Query(`SELECT p.tbl, p.hour, p.packed FROM top_packs p
		WHERE p.events = (SELECT coalesce(SUM(count), 0) FROM event_hours e WHERE e.hour = p.hour) ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	used := 0
	for rows.Next() {
		var tbl string
		var hour int64
		var b []byte
		if err := rows.Scan(&tbl, &hour, &b); err != nil {
			t.Fatal(err)
		}
		var col string
		for _, tt := range topTables {
			if tt.table == tbl {
				col = tt.col
			}
		}
		var sb strings.Builder
		if err := eachPack(b, func(v []byte, c int64) { fmt.Fprintf(&sb, "%d %q %d\n", hour, v, c) }); err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		r, err := d.Reader().Query(`SELECT `+col+`, count FROM `+tbl+` WHERE hour = ? ORDER BY count DESC, 1`, hour)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var v string
			var c int64
			r.Scan(&v, &c)
			fmt.Fprintf(&want, "%d %q %d\n", hour, v, c)
		}
		r.Close()
		if sb.String() != want.String() {
			t.Errorf("pack %s hour %d differs from its rows:\npack:\n%.1000s\nrows:\n%.1000s", tbl, hour, sb.String(), want.String())
		}
		used++
	}
	return used
}

// TestWriterPacksClosedHoursAndLateEventsStayExact runs the writer over four hours of
// traffic (hostile paths included: tabs, newlines, long ones), then sends events late into
// an hour already packed. Top-N answers must equal a GROUP BY of the events at every step:
// a pack that missed the late events is not used until the writer repacks it.
func TestWriterPacksClosedHoursAndLateEventsStayExact(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(100000, 500, 10*time.Millisecond))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	g := newGen(21)
	from := time.Now().UTC().Truncate(time.Hour).Add(-5 * time.Hour) // within retention
	const n, span = 8000, 4*time.Hour + 10*time.Minute
	for i := 0; i < n; i++ {
		e := g.event(i, n, from, span)
		if i%97 == 0 {
			e.Path = fmt.Sprintf("/evil\t%d\nline", i%5)
		}
		bus.Emit(e)
	}
	waitFor(t, "the events", func() bool { return w.Stats().Written == n })
	// The writer packs after each batch; the last batch may still be packing.
	waitFor(t, "packs of hours 8..11", func() bool { return count(t, d, "SELECT COUNT(*) FROM top_packs") == 12 })
	if used := checkPacks(t, d); used != 12 {
		t.Fatalf("%d packs in use, want 12", used)
	}
	if s := w.Stats(); s.LastError != "" {
		t.Fatal(s.LastError)
	}
	exact := func(when string) {
		t.Helper()
		ctx := context.Background()
		for _, win := range [][2]time.Time{
			{from, from.Add(span)},
			{from.Add(10*time.Minute + 3), from.Add(3*time.Hour + 50*time.Minute)},
			{from.Add(40 * time.Minute), from.Add(2*time.Hour + 20*time.Minute)},
		} {
			for _, q := range []struct {
				col string
				f   func(context.Context, time.Time, time.Time, int) ([]Top, error)
			}{{"ip", d.TopIPs}, {"rule", d.TopRules}, {"path", d.TopPaths}} {
				got, err := q.f(ctx, win[0], win[1], 20)
				if err != nil {
					t.Fatal(err)
				}
				if want := rawTop(t, d, q.col, win[0], win[1], 20); len(want) < 20 || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: top %s over %v: got %v, events say %v", when, q.col, win, got, want)
				}
			}
		}
	}
	exact("packed")

	// Late events into packed hour 9: one address and one path become the busiest.
	for i := 0; i < 1500; i++ {
		bus.Emit(event.Event{TS: from.Add(time.Hour + time.Duration(i)*2*time.Second), Kind: event.Probe, Severity: event.Low,
			Action: event.Logged, IP: "203.0.113.250", Path: "/late", Rule: "late:rule"})
	}
	waitFor(t, "the late events", func() bool { return w.Stats().Written == n+1500 })
	if used := checkPacks(t, d); used != 9 {
		t.Fatalf("%d packs in use after late events into hour 9, want 9 (its 3 are stale)", used)
	}
	exact("stale")
	if top, _ := d.TopIPs(context.Background(), from, from.Add(span), 1); top[0].Value != "203.0.113.250" {
		t.Fatalf("top IP %v, want the late one", top)
	}

	// The writer repacks on its minute tick; after Stop the goroutine is gone and the test
	// may run that step itself.
	stop(t, w)
	w.packStep(true)
	if s := w.Stats(); s.LastError != "" {
		t.Fatal(s.LastError)
	}
	if used := checkPacks(t, d); used != 12 {
		t.Fatalf("%d packs in use after the repack, want 12", used)
	}
	exact("repacked")
	checkRollups(t, d)
}

// TestWriterPacksAnOldStoreStepByStep: a store written before packs existed (the rollups
// only) is packed by the writer a few hours per batch, oldest first, and answers are exact
// throughout.
func TestWriterPacksAnOldStoreStepByStep(t *testing.T) {
	d := openTemp(t)
	ctx := context.Background()
	from := time.Now().UTC().Truncate(time.Hour).Add(-31 * time.Hour) // within retention
	g := newGen(3)
	var old []event.Event
	for i := 0; i < 3000; i++ {
		old = append(old, g.event(i, 3000, from, 30*time.Hour))
	}
	if err := d.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, old, true, time.Now) }); err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(1000, 10, time.Millisecond))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	now := from.Add(30*time.Hour + 10*time.Minute)
	packs := []int64{}
	for i := 0; i < 12; i++ {
		bus.Emit(event.Event{TS: now.Add(time.Duration(i) * time.Second), Kind: event.Probe, Severity: event.Low, Action: event.Logged, IP: "192.0.2.1"})
		waitFor(t, "the event", func() bool { return w.Stats().Written == uint64(i+1) })
		time.Sleep(20 * time.Millisecond) // the pack step follows the batch
		packs = append(packs, count(t, d, "SELECT COUNT(*) FROM top_packs WHERE tbl = 'ip_hours'"))
		got, err := d.TopIPs(ctx, from.Add(17*time.Minute), now, 5)
		if want := rawTop(t, d, "ip", from.Add(17*time.Minute), now, 5); err != nil || len(want) != 5 || !reflect.DeepEqual(got, want) {
			t.Fatalf("after %d batches: top %v, %v", i+1, got, err)
		}
	}
	stop(t, w)
	if packs[0] > packPerStep || packs[len(packs)-1] != 30 {
		t.Fatalf("ip packs after each batch: %v; want at most %d per step and 30 in the end", packs, packPerStep)
	}
	checkPacks(t, d)
}
