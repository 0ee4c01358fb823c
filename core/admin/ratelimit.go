package admin

import (
	"sync"
	"time"
)

// rateLimiter allows n attempts per window per address and 3n for all addresses together,
// in fixed windows: enough to stop guessing, simple enough to reason about.
type rateLimiter struct {
	n      int
	window time.Duration
	mu     sync.Mutex
	start  time.Time
	total  int
	per    map[string]int
}

func newRateLimiter(n int, window time.Duration) *rateLimiter {
	if n < 1 {
		n = 10
	}
	return &rateLimiter{n: n, window: window, per: map[string]int{}}
}

func (l *rateLimiter) Allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.window {
		l.start, l.total = now, 0
		clear(l.per)
	}
	if l.per[ip] >= l.n || l.total >= 3*l.n {
		return false
	}
	l.per[ip]++
	l.total++
	return true
}
