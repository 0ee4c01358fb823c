package guard

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

// Rate is a token bucket: PerSecond tokens refill per second up to Burst. A zero PerSecond
// with a negative Burst switches the limit off.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Off returns a Rate that never limits.
func Off() Rate { return Rate{PerSecond: 0, Burst: -1} }

func (r Rate) off() bool { return r.Burst < 0 }

func (r Rate) validate(field string) error {
	if r.off() {
		return nil
	}
	if r.PerSecond <= 0 || math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0) || r.Burst < 1 {
		return fmt.Errorf("%s: needs a positive per_second and a burst of at least 1, got %g/s burst %d", field, r.PerSecond, r.Burst)
	}
	return nil
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds
}

// limiter holds token buckets in shards so concurrent requests rarely share a lock.
type limiter[K comparable] struct {
	seed   maphash.Seed
	shards [32]struct {
		mu sync.Mutex
		m  map[K]*bucket
	}
}

func newLimiter[K comparable]() *limiter[K] {
	l := &limiter[K]{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = map[K]*bucket{}
	}
	return l
}

// take spends one token of key's bucket; when empty it says how long until one is back.
func (l *limiter[K]) take(key K, r Rate, now int64) (bool, time.Duration) {
	sh := &l.shards[maphash.Comparable(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[key]
	burst := float64(r.Burst)
	if b == nil {
		if len(sh.m) >= 8192 {
			l.sweepLocked(sh.m, r, now)
		}
		b = &bucket{tokens: burst, last: now}
		sh.m[key] = b
	} else if now > b.last { // arrival times of concurrent requests may be out of order
		b.tokens = math.Min(burst, b.tokens+float64(now-b.last)/1e9*r.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / r.PerSecond * 1e9)
	return false, wait
}

// sweepLocked forgets buckets that have refilled completely (they behave like new ones).
func (l *limiter[K]) sweepLocked(m map[K]*bucket, r Rate, now int64) {
	for k, b := range m {
		if b.tokens+float64(now-b.last)/1e9*r.PerSecond >= float64(r.Burst) {
			delete(m, k)
		}
	}
}

// RateLimit is the token-bucket stage: per client address, then per app. Over the limit the
// answer is 429 with Retry-After and a `rate_limit` event; allowlisted addresses are exempt.
func (g *Guard) RateLimit() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr := clientAddr(r)
			if _, ok := g.allowed(addr); ok {
				next.ServeHTTP(w, r)
				return
			}
			now := g.reqNow(r).UnixNano()
			if !g.opts.PerIP.off() && addr.IsValid() {
				if ok, wait := g.ipRate.take(addr, g.opts.PerIP, now); !ok {
					g.tooMany(w, r, "per-ip", wait)
					g.throttled(r, addr)
					return
				}
			}
			app := r.Host
			if g.opts.AppOf != nil {
				app = g.opts.AppOf(r)
			}
			rate, ok := g.opts.AppRates[app]
			if !ok {
				rate = g.opts.PerApp
			}
			if !rate.off() {
				if ok, wait := g.appRate.take(app, rate, now); !ok {
					g.tooMany(w, r, "per-app", wait)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (g *Guard) tooMany(w http.ResponseWriter, r *http.Request, rule string, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	verdict.From(r.Context()).Record(event.RateLimit, event.Throttled, rule, 0)
	g.sink.Emit(verdict.Event(r, event.RateLimit, event.Low, event.Throttled, rule, map[string]any{"retry_after": secs}))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writePage(w, http.StatusTooManyRequests, "Too many requests", "Please slow down and try again in "+strconv.Itoa(secs)+" s.")
}
