package admin

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/db"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

var (
	bigOnce sync.Once
	bigDir  string
	bigDB   *db.DB
	bigErr  error
)

const bigEvents = 1_000_000

// bigStore builds, once per test binary, a store of 1M events spread over the last 24 hours
// through the real event writer (batches, rollups and all).
func bigStore(b *testing.B) *db.DB {
	bigOnce.Do(func() {
		bigDir, bigErr = os.MkdirTemp("", "bulwark-admin-bench-")
		if bigErr != nil {
			return
		}
		bigDB, bigErr = db.Open(filepath.Join(bigDir, "bulwark.db"))
		if bigErr != nil {
			return
		}
		bus := event.NewBus()
		cfg := config.Default().Store
		cfg.QueueSize, cfg.BatchSize = 200_000, 20_000
		w := db.NewWriter(bigDB, bus, cfg)
		if bigErr = w.Start(); bigErr != nil {
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		kinds := []event.Kind{event.XSS, event.SQLi, event.Traversal, event.Probe, event.Scanner, event.WAF, event.RateLimit, event.LoginFailed}
		sevs := []event.Severity{event.Low, event.Medium, event.High, event.Critical}
		now := time.Now()
		start := now.Add(-24 * time.Hour)
		step := 24 * time.Hour / bigEvents
		for i := 0; i < bigEvents; i++ {
			k := kinds[rng.IntN(len(kinds))]
			bus.Emit(event.Event{
				TS: start.Add(time.Duration(i) * step), Kind: k, Severity: sevs[rng.IntN(len(sevs))], Action: event.Blocked,
				IP: fmt.Sprintf("198.51.%d.%d", rng.IntN(20), rng.IntN(250)), Method: "GET", Host: "shop.example",
				Path: fmt.Sprintf("/p/%d", rng.IntN(500)), App: "shop", Rule: fmt.Sprintf("9%05d", rng.IntN(300)),
			})
			if i%100_000 == 99_999 {
				for w.Stats().Written+w.Stats().Dropped < uint64(i+1) {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bigErr = w.Stop(ctx)
		if st := w.Stats(); bigErr == nil && st.Written != bigEvents {
			bigErr = fmt.Errorf("writer stored %d of %d events (dropped %d)", st.Written, bigEvents, st.Dropped)
		}
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigDB
}

// p50 runs call b.N times and reports the median latency in ms, next to the median of a
// GET /status over the same mTLS connection (the fixed cost of the API) and the ratio.
func p50(b *testing.B, c *adminclient.Client, call func(context.Context) error) {
	ctx := context.Background()
	measure := func(n int, f func(context.Context) error) time.Duration {
		d := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if err := f(ctx); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	base := measure(50, func(ctx context.Context) error { _, err := c.Status(ctx); return err })
	b.ResetTimer()
	med := measure(b.N, call)
	b.StopTimer()
	b.ReportMetric(float64(med.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(base.Microseconds())/1000, "baseline-status-p50-ms")
	b.ReportMetric(float64(med)/float64(base), "x-baseline")
}

func benchHarness(b *testing.B) (*harness, *adminclient.Client) {
	store := bigStore(b)
	h := newHarness(b, func(o *Options) { o.Events = DBEvents{DB: store} })
	return h, h.client(h.admin)
}

// BenchmarkEventsQuery: a filtered page (kind and severity over the last 6 hours), target
// p50 ≤ 50 ms on 1M events.
func BenchmarkEventsQuery(b *testing.B) {
	_, c := benchHarness(b)
	f := adminapi.EventFilter{Kind: "sqli", Severity: "high", Since: time.Now().Add(-6 * time.Hour), Limit: 100}
	p50(b, c, func(ctx context.Context) error {
		p, err := c.Events(ctx, f)
		if err == nil && len(p.Events) != 100 {
			err = fmt.Errorf("page of %d events", len(p.Events))
		}
		return err
	})
}

// BenchmarkEventsQueryByIP pages one address's events over the whole day.
func BenchmarkEventsQueryByIP(b *testing.B) {
	_, c := benchHarness(b)
	f := adminapi.EventFilter{IP: "198.51.7.7", Since: time.Now().Add(-24 * time.Hour), Limit: 100}
	p50(b, c, func(ctx context.Context) error { _, err := c.Events(ctx, f); return err })
}

// BenchmarkEventsQueryText: a text filter (substring of path or detail) over the whole day,
// a full scan of the window; one value in 500 paths matches.
func BenchmarkEventsQueryText(b *testing.B) {
	_, c := benchHarness(b)
	f := adminapi.EventFilter{Text: "/p/499", Since: time.Now().Add(-24 * time.Hour), Limit: 100}
	p50(b, c, func(ctx context.Context) error { _, err := c.Events(ctx, f); return err })
}

// BenchmarkEventsStats: per-minute buckets over 24 hours (1440 buckets).
func BenchmarkEventsStats(b *testing.B) {
	_, c := benchHarness(b)
	f := adminapi.EventFilter{Since: time.Now().Add(-24 * time.Hour)}
	p50(b, c, func(ctx context.Context) error {
		s, err := c.Stats(ctx, f, time.Minute)
		if err == nil && len(s) < 1440 {
			err = fmt.Errorf("%d buckets", len(s))
		}
		return err
	})
}

// BenchmarkEventsTop: top 10 IPs, rules and paths over 24 hours.
func BenchmarkEventsTop(b *testing.B) {
	_, c := benchHarness(b)
	f := adminapi.EventFilter{Since: time.Now().Add(-24 * time.Hour)}
	for _, by := range []string{"ip", "rule", "path"} {
		b.Run(by, func(b *testing.B) {
			p50(b, c, func(ctx context.Context) error {
				t, err := c.Top(ctx, f, by, 10)
				if err == nil && len(t) != 10 {
					err = fmt.Errorf("%d entries", len(t))
				}
				return err
			})
		})
	}
}

// BenchmarkStreamFanout: 20 clients follow the live stream over mTLS while events are
// published at 2,000/s; every client must receive every event. One iteration is one second.
// Reported: drops (must be 0), the p99 delay from publish to receipt, and the same delay
// with one client as the baseline.
func BenchmarkStreamFanout(b *testing.B) {
	for _, clients := range []int{1, 20} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { fanout(b, clients) })
	}
}

func fanout(b *testing.B, clients int) {
	h := newHarness(b, nil)
	const rate = 2000
	total := rate * b.N
	var received atomic.Int64
	delays := make([][]time.Duration, clients)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	ready := make(chan struct{}, clients)
	for i := 0; i < clients; i++ {
		c := h.client(h.admin)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := 0
			seen := false
			c.Stream(ctx, adminapi.EventFilter{}, 0, func(e adminapi.StreamEvent) error {
				if e.Event.Kind == "warmup" {
					if !seen {
						seen = true
						ready <- struct{}{}
					}
					return nil
				}
				delays[i] = append(delays[i], time.Since(e.Event.TS))
				received.Add(1)
				n++
				if n == total {
					return context.Canceled
				}
				return nil
			})
		}(i)
	}
	// Warm up until every client is connected.
	for got := 0; got < clients; {
		h.srv.Hub().Publish(event.Event{Kind: "warmup", TS: time.Now()})
		select {
		case <-ready:
			got++
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	startT := time.Now()
	for sent := 0; sent < total; {
		<-tick.C
		due := int(time.Since(startT).Seconds()*rate) + 1
		for ; sent < due && sent < total; sent++ {
			h.bus.Emit(event.Event{Kind: event.Probe, IP: "192.0.2.1", Path: "/x", TS: time.Now()})
		}
	}
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(30 * time.Second):
		cancel()
		<-waitDone
	}
	b.StopTimer()
	drops := int64(total*clients) - received.Load()
	var all []time.Duration
	for _, d := range delays {
		all = append(all, d...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(drops), "drops")
	b.ReportMetric(float64(h.bus.Drops()["admin-stream"]), "bus-drops")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-delay-ms")
	}
	b.ReportMetric(float64(received.Load())/time.Since(startT).Seconds(), "deliveries/s")
	if drops != 0 {
		b.Errorf("%d events were not delivered", drops)
	}
}
