package policy

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"bulwark/core/guard"
)

// BanWriter mirrors ban decisions into the store. OnChange only records the latest state
// per address under a mutex and wakes the writer, so a ban (made on the request path by a
// scenario, or by a rule on the bus) never waits on SQLite and nothing is dropped: a burst
// of changes to one address collapses into its last state.
type BanWriter struct {
	store Store
	log   *slog.Logger

	mu      sync.Mutex
	pending map[netip.Addr]banChange
	wake    chan struct{}
	failed  int
}

// NewBanWriter returns a writer into store; hook it up with
// `bans.OnChange = w.OnChange` and run it as a component.
func NewBanWriter(store Store, log *slog.Logger) *BanWriter {
	return &BanWriter{store: store, log: log, pending: map[netip.Addr]banChange{}, wake: make(chan struct{}, 1)}
}

// OnChange is guard.MemoryBans.OnChange.
func (w *BanWriter) OnChange(b guard.Ban, removed bool) {
	w.mu.Lock()
	w.pending[b.Addr] = banChange{b: b, removed: removed}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Name is the component's name.
func (*BanWriter) Name() string { return "ban-writer" }

// Run writes pending changes until ctx ends, then writes what is left.
func (w *BanWriter) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			w.Flush(fctx)
			cancel()
			return nil
		case <-w.wake:
			w.Flush(ctx)
		}
	}
}

// Flush writes the pending changes in one transaction. A failed write is retried on the
// next wake (the changes go back unless a newer one for the address arrived meanwhile).
func (w *BanWriter) Flush(ctx context.Context) {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return
	}
	batch := make([]banChange, 0, len(w.pending))
	for _, c := range w.pending {
		batch = append(batch, c)
	}
	w.pending = map[netip.Addr]banChange{}
	w.mu.Unlock()
	if err := w.store.writeBans(ctx, batch); err != nil {
		w.log.Error("bans: saving to the store failed; kept in memory and retried", "err", err, "changes", len(batch))
		w.mu.Lock()
		w.failed++
		for _, c := range batch {
			if _, newer := w.pending[c.b.Addr]; !newer {
				w.pending[c.b.Addr] = c
			}
		}
		w.mu.Unlock()
		if ctx.Err() == nil {
			time.AfterFunc(time.Second, func() {
				select {
				case w.wake <- struct{}{}:
				default:
				}
			})
		}
	}
}
