package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"bulwark/core/event"
)

// rawSeries is the baseline of Series: the same counts from the events themselves.
func rawSeries(t testing.TB, d *DB, since, until time.Time) map[int64]map[string]int64 {
	t.Helper()
	start, end, err := minuteWindow(since, until)
	if err != nil {
		t.Fatal(err)
	}
	end = floorTo(end-1, 60) + 60 // rollups count whole minutes: the last one ends here
	rows, err := d.Reader().Query(`SELECT (ts / 1000000000) - ((ts / 1000000000) % 60) AS m, kind, COUNT(*)
		FROM events WHERE ts >= ? AND ts < ? GROUP BY m, kind`, start*1e9, end*1e9)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]map[string]int64{}
	for rows.Next() {
		var m, n int64
		var k string
		if err := rows.Scan(&m, &k, &n); err != nil {
			t.Fatal(err)
		}
		if out[m] == nil {
			out[m] = map[string]int64{}
		}
		out[m][k] = n
	}
	return out
}

// rawTop is the baseline of the top-N queries: GROUP BY over the events in the window.
func rawTop(t testing.TB, d *DB, col string, since, until time.Time, n int) []Top {
	t.Helper()
	rows, err := d.Reader().Query(fmt.Sprintf(`SELECT %[1]s, COUNT(*) AS c FROM events
		WHERE ts >= ? AND ts < ? AND %[1]s != '' GROUP BY %[1]s ORDER BY c DESC, %[1]s LIMIT ?`, col),
		since.UnixNano(), until.UnixNano(), n)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Top
	for rows.Next() {
		var e Top
		if err := rows.Scan(&e.Value, &e.Count); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestQueriesOnAMillionEvents(t *testing.T) {
	d := big(t)
	ctx := context.Background()
	from, to := bigEnd.Add(-24*time.Hour), bigEnd
	if n := count(t, d, "SELECT COUNT(*) FROM events"); n != bigRows {
		t.Fatalf("%d events, want %d", n, bigRows)
	}
	if n := count(t, d, "SELECT SUM(count) FROM event_minutes"); n != bigRows {
		t.Fatalf("per-minute rollups sum to %d, want %d", n, bigRows)
	}
	t.Logf("distinct: %d ips, %d rules, %d paths; %d ip_hours rows",
		count(t, d, "SELECT COUNT(DISTINCT ip) FROM ip_hours"), count(t, d, "SELECT COUNT(DISTINCT rule) FROM rule_hours"),
		count(t, d, "SELECT COUNT(DISTINCT path) FROM path_hours"), count(t, d, "SELECT COUNT(*) FROM ip_hours"))

	t.Run("series", func(t *testing.T) {
		for _, w := range []struct {
			name        string
			since, unto time.Time
		}{{"24h", from, to}, {"1h", to.Add(-time.Hour), to}, {"ragged", from.Add(17*time.Minute + 13*time.Second), to.Add(-42*time.Minute - 5*time.Second)}} {
			s, err := d.Series(ctx, w.since, w.unto, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			raw := rawSeries(t, d, w.since, w.unto)
			var total int64
			for i := range s.Total {
				m := s.Start.Unix() + int64(i)*60
				var sum int64
				for k, n := range raw[m] {
					if got := s.ByKind[event.Kind(k)][i]; got != n {
						t.Fatalf("%s: minute %d kind %s: rollup %d, events %d", w.name, m, k, got, n)
					}
					sum += n
				}
				if s.Total[i] != sum {
					t.Fatalf("%s: minute %d total %d, events %d", w.name, m, s.Total[i], sum)
				}
				var byAction int64
				for _, a := range s.ByAction {
					byAction += a[i]
				}
				if byAction != sum {
					t.Fatalf("%s: minute %d actions sum to %d, want %d", w.name, m, byAction, sum)
				}
				total += sum
			}
			if w.name == "24h" && (len(s.Total) != 1440 || total != bigRows) {
				t.Fatalf("24h: %d buckets, %d events", len(s.Total), total)
			}
			if w.name == "1h" && len(s.Total) != 60 {
				t.Fatalf("1h: %d buckets", len(s.Total))
			}
		}
		s5, err := d.Series(ctx, from, to, 5*time.Minute)
		if err != nil || len(s5.Total) != 288 {
			t.Fatalf("5-minute series: %d buckets, %v", len(s5.Total), err)
		}
		var sum int64
		for _, n := range s5.Total {
			sum += n
		}
		if sum != bigRows {
			t.Fatalf("5-minute series sums to %d", sum)
		}
	})

	t.Run("counts", func(t *testing.T) {
		c, err := d.Counts(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		blocked := count(t, d, "SELECT COUNT(*) FROM events WHERE action = 'blocked'")
		logged := count(t, d, "SELECT COUNT(*) FROM events WHERE action = 'logged'")
		sqli := count(t, d, "SELECT COUNT(*) FROM events WHERE kind = 'sqli'")
		if c.Total != bigRows || c.ByAction[event.Blocked] != blocked || c.ByAction[event.Logged] != logged || c.ByKind[event.SQLi] != sqli {
			t.Fatalf("counts %+v; events say blocked %d logged %d sqli %d", c, blocked, logged, sqli)
		}
	})

	t.Run("top", func(t *testing.T) {
		// The big store has packs for all but its last hour (built by the writer's own
		// packing code), so windows mix packs, hourly rows and added or subtracted ends.
		if n := count(t, d, "SELECT COUNT(*) FROM top_packs"); n != 3*23 {
			t.Fatalf("%d packs, want 69 (23 closed hours of 3 tables)", n)
		}
		windows := [][2]time.Time{
			{from, to}, // hour-aligned: 23 packs and the last hour's rows
			{from.Add(17*time.Minute + 13*time.Second + 5), to.Add(-42*time.Minute - 999)}, // left end subtracted, right end added
			{from.Add(5 * time.Minute), to.Add(-10 * time.Minute)},                         // both ends subtracted
			{from.Add(40 * time.Minute), to.Add(-50 * time.Minute)},                        // both ends added
			{to.Add(-50 * time.Minute), to.Add(-10 * time.Minute)},                         // inside one hour, longer than half: hour less both sides
			{to.Add(-3*time.Hour - 50*time.Minute), to.Add(-3*time.Hour - 25*time.Minute)}, // inside one packed hour, short: events only
			{to.Add(-3*time.Hour - 7*time.Minute), to.Add(25 * time.Minute)},               // past the data
		}
		for i, w := range windows {
			for _, q := range []struct {
				col string
				f   func(context.Context, time.Time, time.Time, int) ([]Top, error)
			}{{"ip", d.TopIPs}, {"rule", d.TopRules}, {"path", d.TopPaths}} {
				ns := []int{10}
				if i < 2 {
					ns = []int{1, 10, 200}
				}
				for _, n := range ns {
					got, err := q.f(ctx, w[0], w[1], n)
					if err != nil {
						t.Fatal(err)
					}
					want := rawTop(t, d, q.col, w[0], w[1], n)
					if len(got) != n || !reflect.DeepEqual(got, want) {
						t.Fatalf("top %d %s over %v: got %v, events say %v", n, q.col, w, got, want)
					}
					if n != 10 || i > 1 {
						continue
					}
					// On heavy-tailed traffic the candidates must prove the answer by
					// themselves; otherwise every top query sums every value of the window.
					tx, err := d.Reader().BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					tt := topTable{q.col + "_hours", q.col}
					p := planTop(w[0], w[1])
					hp, err := loadHours(ctx, tx, tt, p.hourFrom-3600, p.hourTo+3600)
					if err != nil {
						t.Fatal(err)
					}
					cand, ok, err := topCandidates(ctx, tx, tt, p, hp, n)
					tx.Rollback()
					if err != nil || !ok || !reflect.DeepEqual(cand, want) {
						t.Fatalf("top %s over %v: candidates proved %v (%v, %v), events say %v", q.col, w, ok, cand, err, want)
					}
				}
			}
		}
	})

	t.Run("paging", func(t *testing.T) {
		top, err := d.TopIPs(ctx, from, to, 1)
		if err != nil {
			t.Fatal(err)
		}
		ip := top[0].Value
		f := EventFilter{IP: ip, Kinds: []event.Kind{event.SQLi}, Since: from.Add(3 * time.Hour), Until: to.Add(-time.Hour), Limit: 500}
		want := count(t, d, "SELECT COUNT(*) FROM events WHERE ip = ? AND kind = 'sqli' AND ts >= ? AND ts < ?",
			ip, f.Since.UnixNano(), f.Until.UnixNano())
		seen := map[int64]bool{}
		var last event.Event
		pages := 0
		for {
			p, err := d.Events(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, e := range p.Events {
				if seen[e.ID] || e.IP != ip || e.Kind != event.SQLi || e.TS.Before(f.Since) || !e.TS.Before(f.Until) {
					t.Fatalf("page %d: bad or repeated event %+v", pages, e)
				}
				if last.ID != 0 && (e.TS.After(last.TS) || (e.TS.Equal(last.TS) && e.ID > last.ID)) {
					t.Fatalf("page %d: %v/%d after %v/%d: not newest first", pages, e.TS, e.ID, last.TS, last.ID)
				}
				seen[e.ID], last = true, e
			}
			if p.Next == "" {
				break
			}
			if pages > 1000 {
				t.Fatal("paging does not end")
			}
			f.Cursor = p.Next
		}
		if int64(len(seen)) != want || want < 1000 {
			t.Fatalf("paged %d events in %d pages, events say %d (want a multi-page answer)", len(seen), pages, want)
		}

		p, err := d.Events(ctx, EventFilter{Text: strings.ToUpper(needle), Limit: 1000})
		if err != nil || len(p.Events) != bigRows/100_000 || p.Next != "" {
			t.Fatalf("text search found %d events (next %q), %v; want %d", len(p.Events), p.Next, err, bigRows/100_000)
		}
		for _, e := range p.Events {
			if !strings.Contains(string(e.Detail), needle) {
				t.Fatalf("text search returned %s", e.Detail)
			}
		}
		id := p.Events[0].ID
		e, err := d.Event(ctx, id)
		if err != nil || e.ID != id || !reflect.DeepEqual(e, p.Events[0]) {
			t.Fatalf("Event(%d) = %+v, %v", id, e, err)
		}
		if _, err := d.Event(ctx, bigRows+5); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a missing id gave %v", err)
		}
	})

	t.Run("plans", func(t *testing.T) {
		// The indexes are what make these fast; a plan that sorts or scans the table is a
		// regression even when the answer is right.
		for _, c := range []struct {
			q, want string
		}{
			{`SELECT id FROM events WHERE ip = ? AND ts >= ? ORDER BY ts DESC, id DESC LIMIT 100`, "events_ip"},
			{`SELECT id FROM events WHERE rule = ? AND ts <= ? AND (ts < ? OR id < ?) ORDER BY ts DESC, id DESC LIMIT 100`, "events_rule"},
			{`SELECT id FROM events WHERE ts >= ? AND ts < ? ORDER BY ts DESC, id DESC LIMIT 100`, "events_ts"},
			{`SELECT id FROM events WHERE kind = ? ORDER BY ts DESC, id DESC LIMIT 100`, "events_kind"},
		} {
			plan := explain(t, d, c.q)
			if !strings.Contains(plan, c.want) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("%s\nplan: %s (want %s, no sort)", c.q, plan, c.want)
			}
		}
	})
}

func explain(t *testing.T, d *DB, q string) string {
	t.Helper()
	n := strings.Count(q, "?")
	args := make([]any, n)
	for i := range args {
		args[i] = 1
	}
	rows, err := d.Reader().Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, detail)
	}
	return strings.Join(parts, "; ")
}

// TestTopFallsBackWhenNoValueDominates builds traffic where the overall winner is in no
// hour's busiest list: the candidate bound cannot prove anything and top must still be exact.
func TestTopFallsBackWhenNoValueDominates(t *testing.T) {
	d := openTemp(t)
	ctx := context.Background()
	base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	var batch []event.Event
	for h := 0; h < 3; h++ {
		for i := 0; i < 40; i++ { // 40 addresses per hour, 5 events each, new ones every hour
			for j := 0; j < 5; j++ {
				batch = append(batch, event.Event{TS: base.Add(time.Duration(h)*time.Hour + time.Duration(i*5+j)*time.Second),
					Kind: event.Scanner, Severity: event.Low, Action: event.Logged, IP: fmt.Sprintf("10.%d.0.%d", h, i)})
			}
		}
		for j := 0; j < 4; j++ { // the steady one: 4 an hour, 12 in all
			batch = append(batch, event.Event{TS: base.Add(time.Duration(h)*time.Hour + 30*time.Minute),
				Kind: event.Scanner, Severity: event.Low, Action: event.Logged, IP: "192.0.2.99"})
		}
	}
	if err := d.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, batch, true, time.Now) }); err != nil {
		t.Fatal(err)
	}
	got, err := d.TopIPs(ctx, base, base.Add(3*time.Hour), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != (Top{"192.0.2.99", 12}) || got[1].Count != 5 {
		t.Fatalf("top = %v, want 192.0.2.99 with 12 first", got)
	}
	if want := rawTop(t, d, "ip", base, base.Add(3*time.Hour), 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("top = %v, events say %v", got, want)
	}
	// The same from packs (the first two hours; the last is within packGrace of the newest
	// event), over the whole span and over ragged windows.
	if err := packAll(ctx, d); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, "SELECT COUNT(*) FROM top_packs WHERE tbl = 'ip_hours'"); n != 2 {
		t.Fatalf("%d ip packs, want 2", n)
	}
	for _, w := range [][2]time.Time{{base, base.Add(3 * time.Hour)}, {base.Add(7 * time.Minute), base.Add(2*time.Hour + 40*time.Minute)},
		{base.Add(50 * time.Minute), base.Add(2*time.Hour + 10*time.Minute)}} {
		got, err := d.TopIPs(ctx, w[0], w[1], 3)
		if want := rawTop(t, d, "ip", w[0], w[1], 3); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("packed: top over %v = %v (%v), events say %v", w, got, err, want)
		}
	}
}

// TestHostileFiltersAreInert feeds SQL fragments and wildcards through every string field:
// they must match literally (here: nothing, or only the literal row) and change nothing.
func TestHostileFiltersAreInert(t *testing.T) {
	d := openTemp(t)
	ctx := context.Background()
	now := time.Now().UTC()
	batch := []event.Event{
		{TS: now, Kind: event.SQLi, Severity: event.High, Action: event.Blocked, IP: "192.0.2.1", Path: "/a", Rule: "942100"},
		{TS: now, Kind: event.XSS, Severity: event.High, Action: event.Blocked, IP: "192.0.2.2", Path: "/100%_off", Rule: "941100"},
		{TS: now, Kind: event.Probe, Severity: event.Low, Action: event.Logged, IP: "192.0.2.3", Path: "/b'--", Detail: event.DetailJSON(map[string]string{"q": "x"})},
	}
	if err := d.Write(ctx, func(tx *sql.Tx) error { return insertEvents(ctx, tx, batch, true, time.Now) }); err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		"' OR '1'='1", "' OR 1=1 --", "x'); DROP TABLE events; --", "\" OR \"\"=\"", "%", "_", "*",
		"1; DELETE FROM events", "' UNION SELECT 1,2,3,4,5,6,7,8,9,10,11,12 --", "\x00", "\\",
	}
	for _, h := range hostile {
		for _, f := range []EventFilter{
			{IP: h}, {App: h}, {Rule: h},
			{Kinds: []event.Kind{event.Kind(h)}}, {Severities: []event.Severity{event.Severity(h)}}, {Actions: []event.Action{event.Action(h)}},
		} {
			p, err := d.Events(ctx, f)
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			if len(p.Events) != 0 {
				t.Fatalf("filter %+v matched %d events", f, len(p.Events))
			}
		}
		p, err := d.Events(ctx, EventFilter{Text: h})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events { // text is a substring match: only literal occurrences
			if !strings.Contains(strings.ToLower(e.Path+string(e.Detail)), strings.ToLower(h)) {
				t.Fatalf("text %q matched %q / %s", h, e.Path, e.Detail)
			}
		}
	}
	if p, _ := d.Events(ctx, EventFilter{Text: "%"}); len(p.Events) != 1 || p.Events[0].Path != "/100%_off" {
		t.Fatalf("text %%: %+v, want only the literal percent path", p.Events)
	}
	if p, _ := d.Events(ctx, EventFilter{Text: "'--"}); len(p.Events) != 1 || p.Events[0].Path != "/b'--" {
		t.Fatalf("text '--: %+v", p.Events)
	}
	if n := count(t, d, "SELECT COUNT(*) FROM events"); n != 3 {
		t.Fatalf("%d events after hostile filters, want 3", n)
	}

	var fe *FilterError
	for _, c := range []struct {
		f     EventFilter
		field string
	}{
		{EventFilter{Cursor: "1 OR 1=1"}, "cursor"},
		{EventFilter{Cursor: "5.-1"}, "cursor"},
		{EventFilter{Cursor: "."}, "cursor"},
		{EventFilter{Limit: MaxPageSize + 1}, "limit"},
		{EventFilter{Limit: -1}, "limit"},
		{EventFilter{Since: now, Until: now.Add(-time.Second)}, "until"},
		{EventFilter{Kinds: make([]event.Kind, 1000)}, "kinds"},
	} {
		if _, err := d.Events(ctx, c.f); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v gave %v, want a FilterError on %s", c.f, err, c.field)
		}
	}
	if _, err := d.Series(ctx, now.Add(-365*24*time.Hour), now, time.Minute); !errors.As(err, &fe) || fe.Field != "step" {
		t.Errorf("a year of minutes gave %v", err)
	}
	if _, err := d.TopIPs(ctx, now.Add(-time.Hour), now, 0); !errors.As(err, &fe) || fe.Field != "n" {
		t.Errorf("top 0 gave %v", err)
	}
}
