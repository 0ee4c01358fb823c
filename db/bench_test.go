package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/stagebench"
)

// BenchmarkWriter measures the whole store path: Emit on the bus, the writer goroutine,
// batches of 1000 with rollups, commit. The baseline, from the same run, inserts the same
// events in the same batches without rollups and without the bus: the ratio is what the
// rollups and the queue cost.
func BenchmarkWriter(b *testing.B) {
	g := newGen(11)
	from := time.Now().Add(-time.Hour)
	evs := make([]event.Event, b.N)
	for i := range evs {
		evs[i] = g.event(i, b.N, from, time.Hour)
	}
	d, err := Open(filepath.Join(b.TempDir(), "w.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	bus := event.NewBus()
	w := NewWriter(d, bus, storeConfig(max(b.N, 1), 1000, 200*time.Millisecond))
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), stagebench.ProcessCPU()
	for i := range evs {
		bus.Emit(evs[i])
	}
	if err := w.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	took, cpu := time.Since(start), stagebench.ProcessCPU()-cpu0
	b.StopTimer()
	s := w.Stats()
	if s.Written+s.Dropped != uint64(b.N) || s.Failed != 0 {
		b.Fatalf("stats %+v for %d events", s, b.N)
	}
	rate := float64(s.Written) / took.Seconds()

	raw, err := Open(filepath.Join(b.TempDir(), "raw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	start = time.Now()
	for i := 0; i < len(evs); i += 1000 {
		batch := evs[i:min(i+1000, len(evs))]
		for j := range batch {
			batch[j].ID = 0
		}
		if err := raw.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, batch, false, time.Now) }); err != nil {
			b.Fatal(err)
		}
	}
	rawRate := float64(len(evs)) / time.Since(start).Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(s.Written)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(rawRate, "baseline-raw-insert-events/s")
	b.ReportMetric(rate/rawRate, "ratio-vs-raw")
	b.ReportMetric(float64(s.Dropped), "dropped")
}

// timeRaw runs a baseline query a few times (outside the timer) and returns its mean.
func timeRaw(b *testing.B, q string, args ...any) time.Duration {
	b.Helper()
	const runs = 3
	start := time.Now()
	for i := 0; i < runs; i++ {
		rows, err := big(b).Reader().Query(q, args...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
	}
	return time.Since(start) / runs
}

func report(b *testing.B, took, cpu time.Duration, baseline time.Duration) {
	per := took / time.Duration(b.N)
	b.ReportMetric(float64((cpu/time.Duration(b.N)).Microseconds())/1000, "cpu-ms/query")
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/query")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "baseline-ms")
	b.ReportMetric(float64(baseline)/float64(per), "speedup-x")
}

// BenchmarkSeries24h is the dashboard chart: 24 h per minute split by kind and action, from
// the rollups. Baseline: the same GROUP BY over the raw events.
func BenchmarkSeries24h(b *testing.B) {
	d := big(b)
	ctx := context.Background()
	since, until := bigEnd.Add(-24*time.Hour), bigEnd
	b.ResetTimer()
	start, cpu0 := time.Now(), stagebench.ProcessCPU()
	for i := 0; i < b.N; i++ {
		s, err := d.Series(ctx, since, until, time.Minute)
		if err != nil || len(s.Total) != 1440 {
			b.Fatal(len(s.Total), err)
		}
	}
	took, cpu := time.Since(start), stagebench.ProcessCPU()-cpu0
	b.StopTimer()
	report(b, took, cpu, timeRaw(b, `SELECT (ts / 1000000000) - ((ts / 1000000000) % 60) AS m, kind, action, COUNT(*)
		FROM events WHERE ts >= ? AND ts < ? GROUP BY m, kind, action`, since.UnixNano(), until.UnixNano()))
}

// BenchmarkTop is the top-10 lists over the last 24 h (a window with ragged ends, as "now"
// is). Baseline: GROUP BY over the raw events of the window.
func BenchmarkTop(b *testing.B) {
	d := big(b)
	ctx := context.Background()
	since, until := bigEnd.Add(-24*time.Hour+17*time.Minute+3*time.Second), bigEnd.Add(-42*time.Minute)
	for _, c := range []struct {
		name string
		col  string
		f    func(context.Context, time.Time, time.Time, int) ([]Top, error)
	}{{"IPs", "ip", d.TopIPs}, {"Rules", "rule", d.TopRules}, {"Paths", "path", d.TopPaths}} {
		b.Run(c.name, func(b *testing.B) {
			start, cpu0 := time.Now(), stagebench.ProcessCPU()
			for i := 0; i < b.N; i++ {
				top, err := c.f(ctx, since, until, 10)
				if err != nil || len(top) != 10 {
					b.Fatal(top, err)
				}
			}
			took, cpu := time.Since(start), stagebench.ProcessCPU()-cpu0
			b.StopTimer()
			report(b, took, cpu, timeRaw(b, `SELECT `+c.col+`, COUNT(*) AS n FROM events WHERE ts >= ? AND ts < ? AND `+c.col+` != ''
				GROUP BY `+c.col+` ORDER BY n DESC LIMIT 10`, since.UnixNano(), until.UnixNano()))
		})
	}
}

// BenchmarkEventsPage is the events screen: pages of 100, newest first. The deep page is
// page 200 reached by keyset; its baseline is the same page by OFFSET.
func BenchmarkEventsPage(b *testing.B) {
	d := big(b)
	ctx := context.Background()
	top, err := d.TopIPs(ctx, bigEnd.Add(-24*time.Hour), bigEnd, 1)
	if err != nil {
		b.Fatal(err)
	}
	deep := EventFilter{Kinds: []event.Kind{event.SQLi}}
	for i := 0; i < 200; i++ {
		p, err := d.Events(ctx, deep)
		if err != nil {
			b.Fatal(err)
		}
		deep.Cursor = p.Next
	}
	for _, c := range []struct {
		name     string
		f        EventFilter
		baseline string
		args     []any
	}{
		{name: "newest", f: EventFilter{}},
		{name: "ip+kind+24h", f: EventFilter{IP: top[0].Value, Kinds: []event.Kind{event.XSS}, Since: bigEnd.Add(-24 * time.Hour), Until: bigEnd}},
		{name: "text", f: EventFilter{Text: "needle", Since: bigEnd.Add(-24 * time.Hour)}},
		{name: "deep-keyset", f: deep,
			baseline: `SELECT id, ts, kind, severity, action, ip, method, host, path, app, rule, detail FROM events
				WHERE kind = 'sqli' ORDER BY ts DESC, id DESC LIMIT 100 OFFSET 20000`},
	} {
		b.Run(c.name, func(b *testing.B) {
			start, cpu0 := time.Now(), stagebench.ProcessCPU()
			for i := 0; i < b.N; i++ {
				if _, err := d.Events(ctx, c.f); err != nil {
					b.Fatal(err)
				}
			}
			took, cpu := time.Since(start), stagebench.ProcessCPU()-cpu0
			b.StopTimer()
			if c.baseline != "" {
				report(b, took, cpu, timeRaw(b, c.baseline, c.args...))
			} else {
				b.ReportMetric(float64((took/time.Duration(b.N)).Microseconds())/1000, "ms/query")
				b.ReportMetric(float64((cpu/time.Duration(b.N)).Microseconds())/1000, "cpu-ms/query")
			}
		})
	}
}
