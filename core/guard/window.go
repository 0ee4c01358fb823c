package guard

import (
	"sync"
	"time"
)

// window counts matches per key within a sliding find-time, fail2ban style: a key trips when
// it has max matches no older than find. It keeps at most max timestamps per key and forgets
// idle keys, so memory is bounded by the number of active offenders.
type window struct {
	find time.Duration
	max  int
	mu   sync.Mutex
	m    map[string][]time.Time
	adds int
}

func newWindow(max int, find time.Duration) *window {
	return &window{max: max, find: find, m: map[string][]time.Time{}}
}

// add records a match at now and reports whether key has reached max within find; a tripped
// key starts counting afresh.
func (w *window) add(key string, now time.Time) (count int, tripped bool) {
	max, find := w.max, w.find
	w.mu.Lock()
	defer w.mu.Unlock()
	ts := w.m[key]
	cut := now.Add(-find)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	ts = append(ts[i:], now)
	if len(ts) > max {
		ts = ts[len(ts)-max:]
	}
	count = len(ts)
	if count >= max {
		delete(w.m, key)
		return count, true
	}
	w.m[key] = ts
	w.adds++
	if w.adds%4096 == 0 {
		for k, v := range w.m {
			if len(v) == 0 || now.Sub(v[len(v)-1]) > find {
				delete(w.m, k)
			}
		}
	}
	return count, false
}
