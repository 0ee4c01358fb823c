package event

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Bus fans events out to subscribers, each with its own bounded queue. Emit never blocks: a
// subscriber whose queue is full loses the event and the loss is counted for that subscriber.
type Bus struct {
	mu   sync.RWMutex
	subs []*Subscription
	now  func() time.Time
}

// Subscription is one consumer's queue.
type Subscription struct {
	Name    string
	C       <-chan Event
	c       chan Event
	dropped atomic.Uint64
	bus     *Bus
	closed  bool
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{now: time.Now} }

// Subscribe adds a consumer with a queue of size buffer.
func (b *Bus) Subscribe(name string, buffer int) *Subscription {
	c := make(chan Event, buffer)
	s := &Subscription{Name: name, C: c, c: c, bus: b}
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	return s
}

// Close removes the subscription and closes its channel.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for i, x := range b.subs {
		if x == s {
			b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
			break
		}
	}
	close(s.c)
}

// Dropped is how many events this subscriber lost to a full queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Each calls fn with every event, in order, until ctx ends or the subscription is closed.
func (s *Subscription) Each(ctx context.Context, fn func(Event)) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-s.C:
			if !ok {
				return
			}
			fn(e)
		}
	}
}

// Emit stamps the event (if it has no time) and offers it to every subscriber.
func (b *Bus) Emit(e Event) {
	if e.TS.IsZero() {
		e.TS = b.now().UTC()
	}
	b.mu.RLock()
	for _, s := range b.subs {
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
		}
	}
	b.mu.RUnlock()
}

// Drops reports the drop count per subscriber name.
func (b *Bus) Drops() map[string]uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	m := make(map[string]uint64, len(b.subs))
	for _, s := range b.subs {
		m[s.Name] += s.dropped.Load()
	}
	return m
}
