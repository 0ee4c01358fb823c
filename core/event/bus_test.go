package event

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestBusFansOutAndDropsWithoutBlocking(t *testing.T) {
	b := NewBus()
	fast := b.Subscribe("fast", 10)
	slow := b.Subscribe("slow", 1)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 5; i++ {
			b.Emit(Event{Kind: XSS})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Emit blocked on a full subscriber")
	}
	if got := len(fast.C); got != 5 {
		t.Fatalf("fast got %d events, want 5", got)
	}
	if got := slow.Dropped(); got != 4 {
		t.Fatalf("slow dropped %d, want 4", got)
	}
	e := <-fast.C
	if e.TS.IsZero() {
		t.Fatal("Emit did not stamp the event time")
	}
	if d := b.Drops(); d["slow"] != 4 || d["fast"] != 0 {
		t.Fatalf("Drops = %v", d)
	}
	slow.Close()
	slow.Close() // idempotent
	b.Emit(Event{Kind: SQLi})
	if _, ok := <-slow.C; !ok {
		t.Fatal("the event queued before Close was lost")
	}
	if _, ok := <-slow.C; ok {
		t.Fatal("a closed subscription still received events")
	}
	if got := len(fast.C); got != 5 {
		t.Fatalf("fast has %d queued after one more emit, want 5", got)
	}
}

// Each hands over events in order and returns when the subscription closes or ctx ends.
func TestSubscriptionEach(t *testing.T) {
	b := NewBus()
	sub := b.Subscribe("each", 8)
	for _, r := range []string{"a", "b", "c"} {
		b.Emit(Event{Rule: r})
	}
	var got []string
	done := make(chan struct{})
	go func() {
		sub.Each(context.Background(), func(e Event) {
			got = append(got, e.Rule)
			if len(got) == 3 {
				sub.Close()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Each did not return after Close")
	}
	if strings.Join(got, "") != "abc" {
		t.Fatalf("got %q, want a, b, c in order", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	idle := b.Subscribe("idle", 1)
	ended := make(chan struct{})
	go func() { idle.Each(ctx, func(Event) { t.Error("no event was sent") }); close(ended) }()
	cancel()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("Each did not return after ctx ended")
	}
}
