package guard

import (
	"sync"
	"time"
)

// window counts matches per key within a sliding find-time, fail2ban style: a key trips when
// it has max matches no older than find. It keeps at most max matches per key and forgets
// idle keys, so memory is bounded by the number of active offenders.
type window struct {
	find time.Duration
	max  int
	mu   sync.Mutex
	m    map[string][]hit
	adds int
}

// hit is one counted match: when the guard saw it, and the arrival time of the request it
// came from (zero when unknown), which identifies the request among one key's matches.
type hit struct{ at, req time.Time }

func newWindow(max int, find time.Duration) *window {
	return &window{max: max, find: find, m: map[string][]hit{}}
}

// add records a match at now and reports whether key has reached max within find; a tripped
// key starts counting afresh.
func (w *window) add(key string, now time.Time) (count int, tripped bool) {
	return w.addRequest(key, now, time.Time{})
}

// addRequest is add for a match that belongs to the request that arrived at req: a request
// counts once however many matches it produced (one blocked request trips several WAF rules
// and detectors, each its own event). A zero req always counts.
func (w *window) addRequest(key string, now, req time.Time) (count int, tripped bool) {
	max, find := w.max, w.find
	w.mu.Lock()
	defer w.mu.Unlock()
	hs := w.m[key]
	cut := now.Add(-find)
	i := 0
	for i < len(hs) && !hs[i].at.After(cut) {
		i++
	}
	hs = hs[i:]
	if !req.IsZero() {
		for _, h := range hs {
			if h.req.Equal(req) {
				w.m[key] = hs
				return len(hs), false
			}
		}
	}
	hs = append(hs, hit{at: now, req: req})
	if len(hs) > max {
		hs = hs[len(hs)-max:]
	}
	count = len(hs)
	if count >= max {
		delete(w.m, key)
		return count, true
	}
	w.m[key] = hs
	w.adds++
	if w.adds%4096 == 0 {
		for k, v := range w.m {
			if len(v) == 0 || now.Sub(v[len(v)-1].at) > find {
				delete(w.m, k)
			}
		}
	}
	return count, false
}
