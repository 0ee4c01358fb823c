package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/event"
)

var errStop = errors.New("stop")

func TestStreamLiveAndResume(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(h.admin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan adminapi.StreamEvent, 100)
	started := make(chan struct{})
	go func() {
		close(started)
		c.Stream(ctx, adminapi.EventFilter{Kind: "xss"}, 0, func(e adminapi.StreamEvent) error {
			got <- e
			if e.Event.Path == "/3" {
				return errStop
			}
			return nil
		})
		close(got)
	}()
	<-started
	// The stream starts "from now": publish until the first event arrives.
	deadline := time.Now().Add(5 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		h.bus.Emit(event.Event{Kind: event.SQLi, Path: "/ignored"})
		h.bus.Emit(event.Event{Kind: event.XSS, Path: "/1", IP: "192.0.2.1"})
		time.Sleep(50 * time.Millisecond)
	}
	h.bus.Emit(event.Event{Kind: event.XSS, Path: "/2"})
	h.bus.Emit(event.Event{Kind: event.XSS, Path: "/3"})
	var seen []adminapi.StreamEvent
	for e := range got {
		if e.Event.Kind != event.XSS {
			t.Fatalf("filter let through %+v", e.Event)
		}
		seen = append(seen, e)
	}
	if len(seen) < 3 || seen[len(seen)-1].Event.Path != "/3" {
		t.Fatalf("stream: %+v", seen)
	}
	// Resume: events published while disconnected arrive after reconnecting with the last id.
	last := seen[len(seen)-1].Seq
	for i := 4; i <= 6; i++ {
		h.bus.Emit(event.Event{Kind: event.XSS, Path: fmt.Sprintf("/%d", i)})
	}
	time.Sleep(100 * time.Millisecond)
	var resumed []string
	err := c.Stream(ctx, adminapi.EventFilter{Kind: "xss"}, last, func(e adminapi.StreamEvent) error {
		resumed = append(resumed, e.Event.Path)
		if len(resumed) == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || strings.Join(resumed, ",") != "/4,/5,/6" {
		t.Fatalf("resume after %d: %v %v", last, resumed, err)
	}
}

func TestHubGap(t *testing.T) {
	hub := NewHub(4)
	for i := 0; i < 10; i++ {
		hub.Publish(event.Event{Path: fmt.Sprint(i)})
	}
	evs, last, gap, _ := hub.Since(2, 100)
	if !gap || len(evs) != 4 || evs[0].Event.Path != "6" || last != 10 {
		t.Fatalf("gap=%v last=%d evs=%+v", gap, last, evs)
	}
	_, _, gap, _ = hub.Since(99, 100) // from an earlier run
	if !gap {
		t.Fatal("future id not treated as a gap")
	}
}

func TestMetricsExposition(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Metrics = []MetricsSource{func() []Metric {
			return []Metric{{Name: "bulwark_waf_seconds_total", Help: "WAF time.", Type: "counter", Value: 1.5}}
		}}
	})
	c := h.client(h.admin)
	h.bus.Emit(event.Event{Kind: event.SQLi, Action: event.Blocked})
	time.Sleep(100 * time.Millisecond)
	c.Status(ctx5(t))
	m, err := c.Metrics(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`# TYPE bulwark_admin_requests_total counter`,
		`bulwark_admin_requests_total{code="200",route="/api/v1/status"} 1`,
		`bulwark_verdicts_total{action="blocked",kind="sqli"} 1`,
		`bulwark_waf_seconds_total 1.5`,
		`bulwark_event_drops_total{subscriber="admin-stream"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}
