package admin

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/db"
)

// TestEventsTotalRoundTrip: the events endpoint's total, through mTLS and the shared client,
// equals a COUNT(*) of the stored events for filters of every shape, stays the same on the
// next page, and is capped (total_capped) for a filter with more than db.TotalCap matches.
func TestEventsTotalRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(h.admin)
	ctx := ctx5(t)

	// Real writer, real rollups: 3000 events over three hours from 09:20:11.
	bus := event.NewBus()
	cfg := config.Default().Store
	cfg.QueueSize, cfg.BatchSize = 10_000, 250
	w := db.NewWriter(h.store, bus, cfg)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 5, 1, 9, 20, 11, 0, time.UTC)
	r := rand.New(rand.NewPCG(9, 9))
	kinds := []event.Kind{event.SQLi, event.XSS, event.Probe, event.Scanner}
	sevs := []event.Severity{event.Info, event.Low, event.Medium, event.High, event.Critical}
	acts := []event.Action{event.Blocked, event.Logged, event.Throttled}
	const n = 3000
	for i := 0; i < n; i++ {
		bus.Emit(event.Event{TS: from.Add(time.Duration(i) * 3 * time.Hour / n), Kind: kinds[r.IntN(len(kinds))],
			Severity: sevs[r.IntN(len(sevs))], Action: acts[r.IntN(len(acts))],
			IP: fmt.Sprintf("192.0.2.%d", r.IntN(8)), App: []string{"shop", "blog"}[r.IntN(2)], Path: fmt.Sprintf("/p/%d", r.IntN(40))})
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Stop(sctx); err != nil || w.Stats().Written != n {
		t.Fatalf("writer: %v, stats %+v", err, w.Stats())
	}
	// The cap: more than db.TotalCap events of one address, years earlier (inserted
	// directly; a filter on ip never reads the rollups).
	err := h.store.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
			INSERT INTO events (ts, kind, severity, action, ip, path) SELECT ? + i, 'probe', 'low', 'logged', '203.0.113.77', '/x' FROM s`,
			db.TotalCap+50, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	brute := func(where string, args ...any) int64 {
		var k int64
		if err := h.store.Reader().QueryRow(`SELECT COUNT(*) FROM events WHERE `+where, args...).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	since, until := from.Add(37*time.Minute+13*time.Second+7), from.Add(2*time.Hour+51*time.Minute)
	s, u := since.UnixNano(), until.UnixNano()
	all := from.UnixNano()
	for _, tc := range []struct {
		f     adminapi.EventFilter
		where string
		args  []any
	}{
		{adminapi.EventFilter{Since: since, Until: until}, "ts >= ? AND ts < ?", []any{s, u}},
		{adminapi.EventFilter{Since: from}, "ts >= ?", []any{all}},
		{adminapi.EventFilter{Since: since, Until: until, Kind: "sqli,xss"}, "ts >= ? AND ts < ? AND kind IN ('sqli', 'xss')", []any{s, u}},
		{adminapi.EventFilter{Since: since, Until: until, Severity: "high"}, "ts >= ? AND ts < ? AND severity IN ('high', 'critical')", []any{s, u}},
		{adminapi.EventFilter{Since: since, Action: "logged", Kind: "probe"}, "ts >= ? AND action = 'logged' AND kind = 'probe'", []any{s}},
		{adminapi.EventFilter{Since: since, IP: "192.0.2.3"}, "ts >= ? AND ip = '192.0.2.3'", []any{s}},
		{adminapi.EventFilter{Since: from, App: "shop", Severity: "medium"}, "ts >= ? AND app = 'shop' AND severity IN ('medium', 'high', 'critical')", []any{all}},
		{adminapi.EventFilter{Since: from, Text: "/P/1"}, "ts >= ? AND instr(path, '/p/1') > 0", []any{all}},
	} {
		want := brute(tc.where, tc.args...)
		tc.f.Limit = 50
		p, err := c.Events(ctx, tc.f)
		if err != nil {
			t.Fatalf("%+v: %v", tc.f, err)
		}
		if p.Total != want || p.TotalCapped || want < 60 {
			t.Fatalf("filter %+v: total %d (capped %v), COUNT(*) says %d (want more than a page)", tc.f, p.Total, p.TotalCapped, want)
		}
		tc.f.Cursor = p.Next
		p2, err := c.Events(ctx, tc.f)
		if err != nil || p2.Total != want || len(p2.Events) == 0 {
			t.Fatalf("filter %+v, second page: total %d, %d events, %v; want %d", tc.f, p2.Total, len(p2.Events), err, want)
		}
	}

	capped := adminapi.EventFilter{IP: "203.0.113.77", Limit: 20}
	p, err := c.Events(ctx, capped)
	if err != nil || p.Total != db.TotalCap || !p.TotalCapped || len(p.Events) != 20 {
		t.Fatalf("capped: total %d capped %v, %d events, %v", p.Total, p.TotalCapped, len(p.Events), err)
	}
	capped.Cursor = p.Next
	if p, err := c.Events(ctx, capped); err != nil || p.Total != db.TotalCap || !p.TotalCapped {
		t.Fatalf("capped, second page: total %d capped %v, %v", p.Total, p.TotalCapped, err)
	}
	if p, err := c.Events(ctx, adminapi.EventFilter{Kind: "no_such_kind"}); err != nil || p.Total != 0 || p.TotalCapped || len(p.Events) != 0 {
		t.Fatalf("no match: %+v, %v", p, err)
	}
}
