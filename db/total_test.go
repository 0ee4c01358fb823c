package db

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/stagebench"
)

// bruteTotal counts f's matches (cursor aside) with the plainest query there is.
func bruteTotal(t testing.TB, d *DB, f EventFilter) int64 {
	t.Helper()
	f.Cursor = ""
	conds, args := filterConds(f)
	q := "SELECT COUNT(*) FROM events"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return count(t, d, q, args...)
}

// totalFilters are filters of every shape total distinguishes, over windows with ragged
// ends (to the nanosecond), whole hours, inside one minute, and open ends.
func totalFilters(r *rand.Rand, from, to time.Time, ip string) []EventFilter {
	span := to.Sub(from)
	ragged := func() (time.Time, time.Time) {
		a := from.Add(time.Duration(r.Int64N(int64(span))))
		b := a.Add(time.Duration(r.Int64N(int64(to.Sub(a))) + 1))
		return a, b
	}
	out := []EventFilter{
		{},
		{Since: from.Truncate(time.Hour).Add(time.Hour), Until: to.Truncate(time.Hour)},
		{Since: from.Add(90*time.Minute + 7), Until: from.Add(90*time.Minute + 59*time.Second)},
		{Since: from.Add(time.Hour + 17*time.Minute + 3*time.Second + 5)},
		{Until: to.Add(-42*time.Minute - 999)},
	}
	for i := 0; i < 8; i++ {
		a, b := ragged()
		out = append(out,
			EventFilter{Since: a, Until: b},
			EventFilter{Since: a, Until: b, Kinds: []event.Kind{event.SQLi, event.XSS}},
			EventFilter{Since: a, Until: b, Actions: []event.Action{event.Blocked}},
			EventFilter{Since: a, Until: b, Severities: []event.Severity{event.High, event.Critical}},
			EventFilter{Since: a, Until: b, Kinds: []event.Kind{event.Probe}, Severities: []event.Severity{event.Low}, Actions: []event.Action{event.Logged}},
			EventFilter{Since: a, Until: b, IP: ip},
			EventFilter{Since: a, Until: b, App: "shop", Kinds: []event.Kind{event.SQLi}},
			EventFilter{Since: a, Until: b, Text: "probe/1"},
		)
	}
	return append(out, EventFilter{Kinds: []event.Kind{"no-such-kind"}}, EventFilter{Severities: []event.Severity{event.Medium}})
}

// TestTotalMatchesACount stores events through the writer's own rollup code over five
// hours and checks Page.Total against a COUNT(*) of the events for every filter shape, on
// the first page and on a later one.
func TestTotalMatchesACount(t *testing.T) {
	d := openTemp(t)
	ctx := context.Background()
	if _, err := d.Events(ctx, EventFilter{}); err != nil {
		t.Fatal(err)
	}
	if p, err := d.Events(ctx, EventFilter{}); err != nil || p.Total != 0 || p.TotalCapped {
		t.Fatalf("empty store: total %d capped %v, %v", p.Total, p.TotalCapped, err)
	}
	g := newGen(5)
	from := time.Date(2026, 5, 1, 9, 20, 11, 0, time.UTC)
	const n, span = 6000, 5 * time.Hour
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = g.event(i, n, from, span)
	}
	for i := 0; i < n; i += 500 {
		batch := evs[i:min(i+500, n)]
		if err := d.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, batch, true, time.Now) }); err != nil {
			t.Fatal(err)
		}
	}
	top, err := d.TopIPs(ctx, from, from.Add(span), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	nonzero := 0
	for _, f := range totalFilters(r, from, from.Add(span), top[0].Value) {
		want := bruteTotal(t, d, f)
		f.Limit = 7
		p, err := d.Events(ctx, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if p.Total != want || p.TotalCapped {
			t.Fatalf("filter %+v: total %d (capped %v), COUNT(*) says %d", f, p.Total, p.TotalCapped, want)
		}
		if want > 7 {
			nonzero++
			f.Cursor = p.Next
			p2, err := d.Events(ctx, f)
			if err != nil || p2.Total != want {
				t.Fatalf("filter %+v, second page: total %d, %v; want %d", f, p2.Total, err, want)
			}
		}
	}
	if nonzero < 30 {
		t.Fatalf("only %d filters matched more than a page: the test data does not exercise totals", nonzero)
	}

	// A listing keeps its first page's total: events written meanwhile show up in the next
	// listing, not halfway through this one. A two-part cursor (ts.id) counts again.
	p1, err := d.Events(ctx, EventFilter{Limit: 10})
	if err != nil || p1.Total != n {
		t.Fatalf("first page total %d, %v; want %d", p1.Total, err, n)
	}
	late := []event.Event{{TS: from.Add(time.Minute), Kind: event.Probe, Severity: event.Low, Action: event.Logged}}
	if err := d.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, late, true, time.Now) }); err != nil {
		t.Fatal(err)
	}
	if p2, err := d.Events(ctx, EventFilter{Limit: 10, Cursor: p1.Next}); err != nil || p2.Total != n {
		t.Fatalf("second page total %d, %v; want the first page's %d", p2.Total, err, n)
	}
	ts, id, _ := strings.Cut(p1.Next, ".")
	id, _, _ = strings.Cut(id, ".")
	if p2, err := d.Events(ctx, EventFilter{Limit: 10, Cursor: ts + "." + id}); err != nil || p2.Total != n+1 {
		t.Fatalf("two-part cursor: total %d, %v; want a fresh count %d", p2.Total, err, n+1)
	}
	if p, err := d.Events(ctx, EventFilter{Limit: 10}); err != nil || p.Total != n+1 {
		t.Fatalf("new listing: total %d, %v; want %d", p.Total, err, n+1)
	}
	var fe *FilterError
	for _, c := range []string{ts + "." + id + ".-1", ts + "." + id + ".5.x", ts + "." + id + ".5.c.1", ts + "." + id + ".", "1.2.3.4.5"} {
		if _, err := d.Events(ctx, EventFilter{Cursor: c}); !errors.As(err, &fe) || fe.Field != "cursor" {
			t.Errorf("cursor %q gave %v, want a FilterError on cursor", c, err)
		}
	}
}

// TestTotalOnAMillionEvents checks rollup totals over ragged windows on the 1M store, and
// the cap: a filter no rollup answers that matches more than TotalCap events.
func TestTotalOnAMillionEvents(t *testing.T) {
	d := big(t)
	ctx := context.Background()
	from, to := bigEnd.Add(-24*time.Hour), bigEnd
	r := rand.New(rand.NewPCG(3, 4))
	for _, f := range totalFilters(r, from, to, "") {
		if f.IP != "" || f.App != "" || f.Text != "" {
			continue // counted directly: the small store checks those; here they may be capped
		}
		want := bruteTotal(t, d, f)
		p, err := d.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != want || p.TotalCapped {
			t.Fatalf("filter %+v: total %d (capped %v), COUNT(*) says %d", f, p.Total, p.TotalCapped, want)
		}
	}
	if p, err := d.Events(ctx, EventFilter{}); err != nil || p.Total != bigRows {
		t.Fatalf("unfiltered total %d, %v; want %d", p.Total, err, bigRows)
	}

	shop := EventFilter{App: "shop", Limit: 10}
	if n := bruteTotal(t, d, shop); n <= TotalCap {
		t.Fatalf("app shop has %d events: the cap case needs more than %d", n, TotalCap)
	}
	p, err := d.Events(ctx, shop)
	if err != nil || p.Total != TotalCap || !p.TotalCapped || len(p.Events) != 10 {
		t.Fatalf("app shop: total %d capped %v, %d events, %v; want %d capped", p.Total, p.TotalCapped, len(p.Events), err, TotalCap)
	}
	if p2, err := d.Events(ctx, EventFilter{App: "shop", Limit: 10, Cursor: p.Next}); err != nil || p2.Total != TotalCap || !p2.TotalCapped {
		t.Fatalf("app shop, second page: total %d capped %v, %v", p2.Total, p2.TotalCapped, err)
	}
	// Just under the cap: exact, not capped.
	small := EventFilter{App: "shop", Since: from, Until: from.Add(6 * time.Hour)}
	want := bruteTotal(t, d, small)
	if want > TotalCap || want < 1000 {
		t.Fatalf("6 hours of app shop: %d events, want 1000..%d for this case", want, TotalCap)
	}
	if p, err := d.Events(ctx, small); err != nil || p.Total != want || p.TotalCapped {
		t.Fatalf("6 hours of app shop: total %d capped %v, %v; want %d", p.Total, p.TotalCapped, err, want)
	}
}

// BenchmarkEventsTotal is the cost Page.Total adds to a page: the total alone, and its
// share of a whole Events call (page of 50 and total) measured in the same run.
func BenchmarkEventsTotal(b *testing.B) {
	d := big(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		f    EventFilter
	}{
		{"all", EventFilter{}},
		{"24h-ragged", EventFilter{Since: bigEnd.Add(-24*time.Hour + 17*time.Minute + 3*time.Second), Until: bigEnd.Add(-42 * time.Minute)}},
		{"kind+sev-6h", EventFilter{Kinds: []event.Kind{event.SQLi}, Severities: []event.Severity{event.High, event.Critical}, Since: bigEnd.Add(-6*time.Hour - 7*time.Minute)}},
		{"sev-24h", EventFilter{Severities: []event.Severity{event.Critical}, Since: bigEnd.Add(-24*time.Hour - 7*time.Minute)}},
		{"app-capped", EventFilter{App: "shop"}},
		{"text", EventFilter{Text: "needle", Since: bigEnd.Add(-24 * time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			tx, err := d.Reader().BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Rollback()
			start, cpu0 := time.Now(), stagebench.ProcessCPU()
			for i := 0; i < b.N; i++ {
				if _, _, err := total(ctx, tx, c.f); err != nil {
					b.Fatal(err)
				}
			}
			took, cpu := time.Since(start), stagebench.ProcessCPU()-cpu0
			b.StopTimer()
			pageStart := time.Now()
			const runs = 5
			for i := 0; i < runs; i++ {
				f := c.f
				f.Limit = 50
				if _, err := d.Events(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
			page := time.Since(pageStart) / runs
			b.ReportMetric(float64((took/time.Duration(b.N)).Microseconds())/1000, "total-ms")
			b.ReportMetric(float64((cpu/time.Duration(b.N)).Microseconds())/1000, "total-cpu-ms")
			b.ReportMetric(float64(page.Microseconds())/1000, "page-incl-total-ms")
			b.ReportMetric(float64(took/time.Duration(b.N))/float64(page), "total-share-of-page")
		})
	}
}
