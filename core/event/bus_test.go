package event

import (
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
