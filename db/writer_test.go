package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"bulwark/core/config"
	"bulwark/core/event"
)

func storeConfig(queue, batch int, flush time.Duration) config.Store {
	c := config.Default().Store
	c.QueueSize, c.BatchSize, c.FlushInterval = queue, batch, config.Duration(flush)
	return c
}

// waitFor polls cond for up to 10 s (a bounded loop that stops by itself).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func stop(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkRollups compares every rollup table with the same counts taken from the events.
func checkRollups(t *testing.T, d *DB) {
	t.Helper()
	for _, c := range []struct{ name, rollup, raw string }{
		{"event_minutes",
			`SELECT minute, kind, action, count FROM event_minutes ORDER BY 1, 2, 3`,
			`SELECT (ts / 1000000000) - ((ts / 1000000000) % 60), kind, action, COUNT(*) FROM events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`},
		{"event_hours",
			`SELECT hour, kind || '/' || severity, action, count FROM event_hours ORDER BY 1, 2, 3`,
			`SELECT (ts / 1000000000) - ((ts / 1000000000) % 3600), kind || '/' || severity, action, COUNT(*) FROM events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`},
		{"ip_hours",
			`SELECT hour, ip, '', count FROM ip_hours ORDER BY 1, 2`,
			`SELECT (ts / 1000000000) - ((ts / 1000000000) % 3600), ip, '', COUNT(*) FROM events WHERE ip != '' GROUP BY 1, 2 ORDER BY 1, 2`},
		{"rule_hours",
			`SELECT hour, rule, '', count FROM rule_hours ORDER BY 1, 2`,
			`SELECT (ts / 1000000000) - ((ts / 1000000000) % 3600), rule, '', COUNT(*) FROM events WHERE rule != '' GROUP BY 1, 2 ORDER BY 1, 2`},
		{"path_hours",
			`SELECT hour, path, '', count FROM path_hours ORDER BY 1, 2`,
			`SELECT (ts / 1000000000) - ((ts / 1000000000) % 3600), path, '', COUNT(*) FROM events WHERE path != '' GROUP BY 1, 2 ORDER BY 1, 2`},
	} {
		a, b := dump(t, d, c.rollup), dump(t, d, c.raw)
		if c.name == "event_minutes" {
			if packed := dumpMinuteCounts(t, d); packed != b {
				t.Errorf("minute_counts differs from the events:\npacked:\n%.2000s\nraw:\n%.2000s", packed, b)
			}
		}
		if a != b {
			t.Errorf("%s differs from the events:\nrollup:\n%.2000s\nraw:\n%.2000s", c.name, a, b)
		}
		if a == "" {
			t.Errorf("%s is empty", c.name)
		}
	}
}

// dumpMinuteCounts unpacks minute_counts into dump's format.
func dumpMinuteCounts(t *testing.T, d *DB) string {
	t.Helper()
	rows, err := d.Reader().Query(`SELECT minute, counts FROM minute_counts ORDER BY minute`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var m int64
		var c []byte
		if err := rows.Scan(&m, &c); err != nil {
			t.Fatal(err)
		}
		if err := eachCount(c, func(k, a []byte, n int64) { fmt.Fprintf(&sb, "%d %s %s %d\n", m, k, a, n) }); err != nil {
			t.Fatal(err)
		}
	}
	return sb.String()
}

func dump(t *testing.T, d *DB, q string) string {
	t.Helper()
	rows, err := d.Reader().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var a int64
		var b, c string
		var n int64
		if err := rows.Scan(&a, &b, &c, &n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%d %s %s %d\n", a, b, c, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestWriterBatchesAssignsIDsAndKeepsRollupsExact(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(10000, 100, time.Hour)) // only size or Stop flushes
	var mu sync.Mutex
	ids := map[int64]bool{}
	var sizes []int
	var committed []event.Event
	w.OnCommit(func(b []event.Event) {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(b))
		for _, e := range b {
			ids[e.ID] = true
		}
		committed = append(committed, b...)
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err == nil {
		t.Fatal("a second Start succeeded")
	}
	g := newGen(7)
	const n = 1050
	from := time.Now().Add(-5 * time.Hour).UTC()
	for i := 0; i < n; i++ {
		bus.Emit(g.event(i, n, from, 5*time.Hour))
	}
	waitFor(t, "10 full batches", func() bool { return w.Stats().Written >= 1000 })
	if s := w.Stats(); s.Written != 1000 || s.Batches != 10 {
		t.Fatalf("before Stop: %+v; want exactly 10 batches of 100 (the flush interval is an hour)", s)
	}
	stop(t, w)
	s := w.Stats()
	if s.Written != n || s.Batches != 11 || s.Dropped != 0 || s.Failed != 0 || s.LastError != "" {
		t.Fatalf("stats after Stop: %+v", s)
	}
	mu.Lock()
	for i, sz := range sizes {
		if sz > 100 || (i < 10 && sz != 100) {
			t.Fatalf("batch sizes %v: want ten of 100, then the 50 Stop flushed", sizes)
		}
	}
	if len(ids) != n || ids[0] {
		t.Fatalf("%d distinct ids for %d events (or an id 0)", len(ids), n)
	}
	mu.Unlock()
	if got := count(t, d, "SELECT COUNT(*) FROM events"); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
	for _, e := range committed { // the id each event was given is the row that holds it
		got, err := d.Event(context.Background(), e.ID)
		if err != nil || !got.TS.Equal(e.TS) || got.IP != e.IP || got.Path != e.Path || string(got.Detail) != string(e.Detail) {
			t.Fatalf("event %d: stored %+v, %v; committed %+v", e.ID, got, err, e)
		}
	}
	checkRollups(t, d)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
}

func TestWriterFlushesAPartialBatchOnTime(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(100, 1000, 50*time.Millisecond))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer stop(t, w)
	for i := 0; i < 3; i++ {
		bus.Emit(event.Event{Kind: event.XSS, Severity: event.High, Action: event.Blocked, IP: "192.0.2.1"})
	}
	waitFor(t, "the flush interval to write 3 events", func() bool { return w.Stats().Written == 3 })
	if s := w.Stats(); s.Batches != 1 {
		t.Fatalf("3 events in %d batches, want 1", s.Batches)
	}
	p, err := d.Events(context.Background(), EventFilter{})
	if err != nil || len(p.Events) != 3 || p.Events[0].TS.IsZero() {
		t.Fatalf("stored %+v, %v", p, err)
	}
}

func TestWriterStopWritesEverythingQueued(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(20000, 1000, time.Hour))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 5500
	for i := 0; i < n; i++ {
		bus.Emit(event.Event{Kind: event.Probe, Severity: event.Low, Action: event.Logged, Path: "/.env"})
	}
	stop(t, w)
	if s := w.Stats(); s.Written != n || s.Dropped != 0 {
		t.Fatalf("after Stop %+v, want %d written", s, n)
	}
	if got := count(t, d, "SELECT COUNT(*) FROM events"); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
	bus.Emit(event.Event{Kind: event.Probe}) // after Stop: not queued anywhere, no panic
	if s := w.Stats(); s.Dropped != 0 || s.Queued != 0 {
		t.Fatalf("an event emitted after Stop was queued or counted: %+v", s)
	}
}

// TestWriterNeverBlocksARequest jams the database behind a long transaction and floods the
// bus: Emit must keep returning at once, the overflow is dropped and counted, and every
// event is accounted for as written or dropped.
func TestWriterNeverBlocksARequest(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(50, 10, 10*time.Millisecond))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	held := make(chan struct{})
	go d.Write(context.Background(), func(*sql.Tx) error { // holds the one writer connection
		close(held)
		<-release
		return nil
	})
	<-held
	const n = 20000
	emitted := make(chan time.Duration)
	go func() {
		start := time.Now()
		for i := 0; i < n; i++ {
			bus.Emit(event.Event{Kind: event.RateLimit, Severity: event.Medium, Action: event.Throttled, IP: "198.51.100.7"})
		}
		emitted <- time.Since(start)
	}()
	select {
	case took := <-emitted:
		t.Logf("%d emits against a jammed store took %s", n, took)
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocked while the database was busy")
	}
	if s := w.Stats(); s.Dropped == 0 || s.Written != 0 {
		t.Fatalf("while jammed: %+v; want drops and nothing written", s)
	}
	close(release)
	stop(t, w)
	s := w.Stats()
	if s.Written+s.Dropped != n || s.Failed != 0 {
		t.Fatalf("written %d + dropped %d != %d emitted (failed %d)", s.Written, s.Dropped, n, s.Failed)
	}
	if got := count(t, d, "SELECT COUNT(*) FROM events"); uint64(got) != s.Written {
		t.Fatalf("%d rows for %d written", got, s.Written)
	}
}

func TestWriterRetentionDeletesInChunksAndTrimsRollups(t *testing.T) {
	d := openTemp(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 10, 12, 30, 0, 0, time.UTC)
	g := newGen(3)
	var batch []event.Event
	const old, recent = 5000, 300
	for i := 0; i < old; i++ {
		batch = append(batch, g.event(i, old, now.Add(-10*24*time.Hour), 24*time.Hour))
	}
	for i := 0; i < recent; i++ {
		batch = append(batch, g.event(i, recent, now.Add(-2*time.Hour), 2*time.Hour))
	}
	if err := d.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, batch, true, time.Now) }); err != nil {
		t.Fatal(err)
	}
	cfg := storeConfig(100, 100, 10*time.Millisecond)
	cfg.Retention = config.Duration(7 * 24 * time.Hour)
	bus := event.NewBus()
	w := NewWriter(d, bus, cfg)
	w.now = func() time.Time { return now }
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	bus.Emit(event.Event{TS: now, Kind: event.XSS, Severity: event.High, Action: event.Blocked, IP: "203.0.113.9", Rule: "941100", Path: "/q"})
	waitFor(t, "retention", func() bool { return w.Stats().Deleted == old })
	waitFor(t, "the new event", func() bool { return w.Stats().Written == 1 })
	stop(t, w)
	if s := w.Stats(); s.LastError != "" {
		t.Fatal(s.LastError)
	}
	if got := count(t, d, "SELECT COUNT(*) FROM events"); got != recent+1 {
		t.Fatalf("%d events left, want %d", got, recent+1)
	}
	cut := now.Add(-7 * 24 * time.Hour).Unix()
	for _, q := range []string{
		"SELECT COUNT(*) FROM event_minutes WHERE minute < ?",
		"SELECT COUNT(*) FROM ip_hours WHERE hour < ?",
		"SELECT COUNT(*) FROM event_hours WHERE hour < ?",
		"SELECT COUNT(*) FROM top_packs WHERE hour < ?",
		"SELECT COUNT(*) FROM rule_hours WHERE hour < ?",
		"SELECT COUNT(*) FROM path_hours WHERE hour < ?",
	} {
		if n := count(t, d, q, cut); n != 0 {
			t.Errorf("%s: %d rows past retention", q, n)
		}
	}
	checkRollups(t, d)
}

func TestWriterStoresHostileFieldsSafely(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(100, 10, 10*time.Millisecond))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("é", 1<<20) // 2 MiB, two-byte runes: a cut could split one
	bus.Emit(event.Event{Kind: event.Traversal, Severity: event.High, Action: event.Blocked,
		Path: long, IP: strings.Repeat("1", 500), Detail: json.RawMessage(`{"unterminated": "`)})
	bus.Emit(event.Event{Kind: event.XSS, Severity: event.High, Action: event.Blocked,
		Detail: json.RawMessage(`{"big":"` + strings.Repeat("A", 100<<10) + `"}`)})
	stop(t, w)
	p, err := d.Events(context.Background(), EventFilter{})
	if err != nil || len(p.Events) != 2 {
		t.Fatalf("%+v, %v", p, err)
	}
	for _, e := range p.Events {
		if len(e.Path) > maxPath || !utf8.ValidString(e.Path) || len(e.IP) > maxIP {
			t.Errorf("path %d bytes (valid UTF-8: %v), ip %d bytes", len(e.Path), utf8.ValidString(e.Path), len(e.IP))
		}
		if !json.Valid(e.Detail) || len(e.Detail) > maxDetail {
			t.Errorf("detail stored as %d bytes, valid JSON %v", len(e.Detail), json.Valid(e.Detail))
		}
	}
}

func TestWriterCountsFailedBatches(t *testing.T) {
	d := openTemp(t)
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(100, 10, 10*time.Millisecond))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	// Take the table away (a damaged or hand-edited file): writes must fail visibly.
	if err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("ALTER TABLE events RENAME TO events_gone")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bus.Emit(event.Event{Kind: event.XSS, Severity: event.High, Action: event.Blocked})
	waitFor(t, "the failure to be counted", func() bool { return w.Stats().Failed == 1 })
	stop(t, w)
	s := w.Stats()
	if s.Written != 0 || !strings.Contains(s.LastError, "events") || s.LastErrorAt.IsZero() {
		t.Fatalf("%+v", s)
	}
}
