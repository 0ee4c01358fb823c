package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/event"
)

// Hub keeps the most recent events in a ring, numbered by a sequence, and wakes streaming
// clients when new ones arrive. Each client reads the ring at its own pace from its own
// position, so a slow client never costs another one an event, and a client that reconnects
// with Last-Event-ID resumes where it stopped as long as the ring still holds that event.
type Hub struct {
	mu     sync.Mutex
	ring   []held
	next   uint64 // sequence of the next event; events next-len(ring)..next-1 are held
	notify chan struct{}
}

// held is one event in the ring, encoded once for every stream that sends it.
type held struct {
	adminapi.StreamEvent
	json []byte
}

// NewHub returns a hub keeping size events.
func NewHub(size int) *Hub {
	return &Hub{ring: make([]held, size), next: 1, notify: make(chan struct{})}
}

// Publish appends an event and wakes the streams.
func (h *Hub) Publish(e event.Event) {
	b, _ := json.Marshal(e)
	h.mu.Lock()
	seq := h.next
	h.ring[seq%uint64(len(h.ring))] = held{StreamEvent: adminapi.StreamEvent{Seq: seq, Event: e}, json: b}
	h.next++
	ch := h.notify
	h.notify = make(chan struct{})
	h.mu.Unlock()
	close(ch)
}

// Run copies the bus subscription into the hub until ctx ends.
func (h *Hub) Run(ctx context.Context, sub *event.Subscription, count func(event.Event)) {
	defer sub.Close()
	sub.Each(ctx, func(e event.Event) {
		if count != nil {
			count(e)
		}
		h.Publish(e)
	})
}

// Since returns the held events with sequence > after (at most max), the sequence of the
// last one returned, whether events were lost in between, and a channel closed when more
// arrive.
func (h *Hub) Since(after uint64, max int) (out []held, last uint64, gap bool, wait <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	oldest := uint64(1)
	if h.next > uint64(len(h.ring)) {
		oldest = h.next - uint64(len(h.ring))
	}
	if after >= h.next { // from an earlier run of the appliance: start over
		after, gap = 0, true
	}
	from := after + 1
	if from < oldest {
		gap = gap || after != 0
		from = oldest
	}
	last = after
	for s := from; s < h.next && len(out) < max; s++ {
		out = append(out, h.ring[s%uint64(len(h.ring))])
		last = s
	}
	if last < h.next-1 && len(out) == 0 {
		last = h.next - 1
	}
	return out, last, gap, h.notify
}

// Head is the sequence of the newest event (0 when none).
func (h *Hub) Head() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next - 1
}

// streamCoalesce is how long a stream waits after a wake-up to send what arrived meanwhile.
const streamCoalesce = 10 * time.Millisecond

// streamFilter is the subset of the event filter a live stream applies.
type streamFilter struct {
	kind, action, ip, app string
	minSev                int
}

func (f streamFilter) match(e event.Event) bool {
	return (f.kind == "" || string(e.Kind) == f.kind) && (f.action == "" || string(e.Action) == f.action) &&
		(f.ip == "" || e.IP == f.ip) && (f.app == "" || e.App == f.app) &&
		(f.minSev <= 0 || event.SeverityRank(e.Severity) >= f.minSev)
}

// streamEvents serves /events/stream as server-sent events; each event's id is its hub
// sequence, so EventSource clients resume by Last-Event-ID on their own.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := adminapi.ParseEventFilter(q, time.Now())
	if err != nil {
		return err
	}
	sf := streamFilter{kind: f.Kind, action: f.Action, ip: f.IP, app: f.App}
	if f.Severity != "" {
		sf.minSev = event.SeverityRank(event.Severity(f.Severity))
	}
	after := s.hub.Head() // a new stream starts with what happens from now on
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return adminapi.Errorf(400, "Last-Event-ID", "%q is not a stream sequence", v)
		}
		after = n
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("streaming is not supported by this connection")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)
	fmt.Fprintf(w, "retry: 2000\n: bulwark event stream, head %d\n\n", s.hub.Head())
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	buf := make([]byte, 0, 64<<10)
	for {
		evs, last, gap, wait := s.hub.Since(after, 512)
		buf = buf[:0]
		if gap {
			buf = fmt.Appendf(buf, "event: gap\ndata: {\"after\":%d}\n\n", after)
			s.metrics.streamGaps.Add(1)
		}
		for _, e := range evs {
			if !sf.match(e.Event) {
				continue
			}
			buf = fmt.Appendf(buf, "id: %d\ndata: %s\n\n", e.Seq, e.json)
		}
		after = last
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return nil
			}
			fl.Flush()
		}
		if len(evs) > 0 {
			continue // there may be more already
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-wait:
			// Coalesce: under a flood, one write per streamCoalesce instead of one per event
			// keeps 20 consoles at thousands of events a second cheap; it adds at most that
			// much delay.
			select {
			case <-r.Context().Done():
				return nil
			case <-time.After(streamCoalesce):
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			fl.Flush()
		}
	}
}
