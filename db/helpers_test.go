package db

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"bulwark/core/event"
)

// bigDir holds the 1M-event database, built at most once per test binary run and shared
// by the query tests and the benchmarks (they only read it).
var (
	bigDir  string
	bigOnce sync.Once
	bigDB   *DB
	bigErr  error
)

const bigRows = 1_000_000

// bigEnd is the end of the big database's 24 hours. Fixed so every run sees the same data.
var bigEnd = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulwark-db-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bigDir = dir
	code := m.Run()
	if bigDB != nil {
		bigDB.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// openTemp opens a fresh store in the test's temp folder.
func openTemp(t testing.TB) *DB {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// big returns the shared 1M-event store, building it on first use.
func big(tb testing.TB) *DB {
	tb.Helper()
	bigOnce.Do(func() {
		start := time.Now()
		bigDB, bigErr = buildBig(filepath.Join(bigDir, "big.db"))
		if bigErr == nil {
			fmt.Fprintf(os.Stderr, "db: built %d events in %s\n", bigRows, time.Since(start).Round(time.Millisecond))
		}
	})
	if bigErr != nil {
		tb.Fatal(bigErr)
	}
	return bigDB
}

// buildBig writes bigRows events spread over the 24 hours before bigEnd, with the same
// shape as gen (Zipf addresses, probes and rules, 20% one-off paths), and the rollups.
//
// It is built by SQL inside SQLite, not through the writer: under -race every database/sql
// call costs tens of microseconds, and a million of them would take minutes. The choices
// come from small tables of Go-drawn Zipf samples, indexed by a hash of the row number, so
// every run builds the same data. The writer's own rollup code is checked against the raw
// events in writer_test.go; here the rollups are the GROUP BYs they must equal.
func buildBig(path string) (*DB, error) {
	d, err := Open(path)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	g := newGen(1)
	err = d.Write(ctx, func(tx *sql.Tx) error {
		pick := func(table string, n int, f func() string) error {
			if _, err := tx.Exec(`CREATE TEMP TABLE ` + table + ` (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
				return err
			}
			st, err := tx.Prepare(`INSERT INTO ` + table + ` VALUES (?, ?)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for k := 0; k < n; k++ {
				if _, err := st.Exec(k, f()); err != nil {
					return err
				}
			}
			return nil
		}
		if err := pick("gen_ip", 1<<16, func() string { return g.ipAddr(g.ip.Uint64()) }); err != nil {
			return err
		}
		if err := pick("gen_rule", 1<<12, func() string { return fmt.Sprintf("9%05d", 41000+g.rule.Uint64()) }); err != nil {
			return err
		}
		if err := pick("gen_path", 1<<14, func() string { return fmt.Sprintf("/probe/%d", g.path.Uint64()) }); err != nil {
			return err
		}
		k := 0
		if err := pick("gen_kind", len(g.kinds), func() string { k++; return string(g.kinds[k-1]) }); err != nil {
			return err
		}
		start := bigEnd.Add(-24 * time.Hour).UnixNano()
		step := int64(24*time.Hour) / bigRows
		// h1..h3 are independent hashes of the row number (multiplicative, mod a prime).
		_, err := tx.Exec(`
			WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1),
			r AS (SELECT i,
				(i * 2654435761 + 97) % 4294967291 AS h1,
				(i * 40503 + 1013904223) % 4294967279 AS h2,
				(i * 2246822519 + 3266489917) % 4294967231 AS h3 FROM n),
			e AS (SELECT i, h1, h2, h3,
				min(? + i * ? + h1 % 2000000000, ? - 1) AS ts,
				(SELECT v FROM gen_kind WHERE k = h2 % 20) AS kind FROM r)
			INSERT INTO events (ts, kind, severity, action, ip, method, host, path, app, rule, detail)
			SELECT ts, kind,
				CASE h3 % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'critical' END,
				CASE WHEN h1 % 100 < 30 THEN 'logged' WHEN h1 % 100 < 37 THEN 'throttled' WHEN h1 % 100 < 40 THEN 'banned' ELSE 'blocked' END,
				(SELECT v FROM gen_ip WHERE k = h3 % 65536),
				CASE WHEN h2 % 4 = 3 THEN 'POST' ELSE 'GET' END,
				CASE h1 % 3 WHEN 0 THEN 'shop.example' WHEN 1 THEN 'api.example' ELSE 'www.example' END,
				CASE WHEN h2 % 5 = 0 THEN printf('/x/%08x', h3) ELSE (SELECT v FROM gen_path WHERE k = h1 % 16384) END,
				CASE h3 % 4 WHEN 0 THEN 'shop' WHEN 1 THEN 'api' WHEN 2 THEN 'blog' ELSE '' END,
				CASE WHEN kind IN ('sqli', 'xss', 'waf', 'traversal') THEN (SELECT v FROM gen_rule WHERE k = h2 % 4096)
					WHEN kind = 'rate_limit' THEN 'rate:ip' WHEN kind = 'scanner' THEN 'ua:scanner' ELSE '' END,
				json_object('score', h1 % 20, 'match', CASE WHEN i % 100000 = 0 THEN 'prefix ' || ? || ' suffix' ELSE 'matched' END)
			FROM e ORDER BY i`,
			bigRows, start, step, bigEnd.UnixNano(), needle)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`INSERT INTO event_minutes SELECT ts / 1000000000 - (ts / 1000000000) % 60 AS m, kind, action, COUNT(*) FROM events GROUP BY m, kind, action`,
			`INSERT INTO minute_counts SELECT minute, group_concat(kind || char(9) || action || char(9) || count || char(10), '' ORDER BY kind, action)
				FROM event_minutes GROUP BY minute`,
			`INSERT INTO event_hours SELECT ts / 1000000000 - (ts / 1000000000) % 3600 AS h, kind, severity, action, COUNT(*) FROM events GROUP BY h, kind, severity, action`,
			`INSERT INTO ip_hours SELECT ts / 1000000000 - (ts / 1000000000) % 3600 AS h, ip, COUNT(*) FROM events WHERE ip != '' GROUP BY h, ip`,
			`INSERT INTO rule_hours SELECT ts / 1000000000 - (ts / 1000000000) % 3600 AS h, rule, COUNT(*) FROM events WHERE rule != '' GROUP BY h, rule`,
			`INSERT INTO path_hours SELECT ts / 1000000000 - (ts / 1000000000) % 3600 AS h, path, COUNT(*) FROM events WHERE path != '' GROUP BY h, path`,
			`DROP TABLE gen_ip`, `DROP TABLE gen_rule`, `DROP TABLE gen_path`, `DROP TABLE gen_kind`,
		} {
			if _, err := tx.Exec(q); err != nil {
				return fmt.Errorf("%.60s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("build big database: %w", err)
	}
	if err := packAll(ctx, d); err != nil {
		d.Close()
		return nil, fmt.Errorf("build big database: %w", err)
	}
	return d, nil
}

// packAll packs every hour the writer would have packed by now, with the writer's own code.
func packAll(ctx context.Context, d *DB) error {
	var p packer
	if err := p.init(ctx, d); err != nil {
		return err
	}
	for i := 0; p.due(); i++ {
		if i > 10000 {
			return fmt.Errorf("packing does not end")
		}
		err := d.Write(ctx, func(tx *sql.Tx) error {
			next, err := p.step(ctx, tx, false)
			if err == nil {
				p.next = next
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// gen makes plausible attack traffic: a few noisy addresses and many quiet ones (Zipf over
// 50,000 addresses), common probes and CRS rules with a long tail, 20% one-off paths.
type gen struct {
	r     *rand.Rand
	ip    *rand.Zipf
	rule  *rand.Zipf
	path  *rand.Zipf
	kinds []event.Kind
}

// needle appears in the detail of every 100,000th event: a rare string for text search.
const needle = "needle-7f3a"

func newGen(seed uint64) *gen {
	r := rand.New(rand.NewPCG(seed, 99))
	return &gen{
		r:    r,
		ip:   rand.NewZipf(r, 1.1, 1, 49_999),
		rule: rand.NewZipf(r, 1.3, 1, 299),
		path: rand.NewZipf(r, 1.2, 1, 999),
		kinds: []event.Kind{
			event.SQLi, event.SQLi, event.SQLi, event.XSS, event.XSS, event.XSS, event.Probe, event.Probe,
			event.Probe, event.Probe, event.Scanner, event.Scanner, event.WAF, event.WAF, event.RateLimit,
			event.RateLimit, event.Traversal, event.CSRF, event.Banned, event.LoginFailed,
		},
	}
}

func (g *gen) ipAddr(n uint64) string {
	if n%13 == 12 {
		return fmt.Sprintf("2001:db8::%x:%x", n>>16, n&0xffff)
	}
	h := uint32(n*2654435761 + 0x9e3779b9) // spread over the address space
	return fmt.Sprintf("%d.%d.%d.%d", 1+h>>24%223, h>>16&0xff, h>>8&0xff, 1+h&0xfe)
}

// event i of n, spread evenly over [from, from+span) with up to 2 s of jitter (the order
// in which a real writer receives events is only nearly the order of their times).
func (g *gen) event(i, n int, from time.Time, span time.Duration) event.Event {
	ts := from.Add(time.Duration(int64(span) / int64(n) * int64(i)))
	ts = ts.Add(time.Duration(g.r.Int64N(int64(2 * time.Second))))
	if ts.After(from.Add(span - 1)) {
		ts = from.Add(span - 1)
	}
	k := g.kinds[g.r.IntN(len(g.kinds))]
	e := event.Event{
		TS:       ts,
		Kind:     k,
		Severity: []event.Severity{event.Low, event.Medium, event.High, event.Critical}[g.r.IntN(4)],
		Action:   event.Blocked,
		IP:       g.ipAddr(g.ip.Uint64()),
		Method:   []string{"GET", "GET", "GET", "POST"}[g.r.IntN(4)],
		Host:     []string{"shop.example", "api.example", "www.example"}[g.r.IntN(3)],
		App:      []string{"shop", "api", "blog", ""}[g.r.IntN(4)],
	}
	switch x := g.r.IntN(100); {
	case x < 30:
		e.Action = event.Logged
	case x < 37:
		e.Action = event.Throttled
	case x < 40:
		e.Action = event.BannedIP
	}
	if g.r.IntN(5) == 0 {
		e.Path = fmt.Sprintf("/x/%08x", g.r.Uint32())
	} else {
		e.Path = fmt.Sprintf("/probe/%d", g.path.Uint64())
	}
	switch k {
	case event.SQLi, event.XSS, event.WAF, event.Traversal:
		e.Rule = fmt.Sprintf("9%05d", 41000+g.rule.Uint64())
	case event.RateLimit:
		e.Rule = "rate:ip"
	case event.Scanner:
		e.Rule = "ua:scanner"
	}
	text := "matched"
	if i%100_000 == 0 {
		text = "prefix " + needle + " suffix"
	}
	e.Detail = event.DetailJSON(map[string]any{"score": g.r.IntN(20), "match": text})
	return e
}

// count runs a COUNT(*) style query on the read pool.
func count(t testing.TB, d *DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.Reader().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
