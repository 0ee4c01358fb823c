package guard

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Ban is one decision: addr is refused until Expires.
type Ban struct {
	Addr    netip.Addr `json:"ip"`
	Rule    string     `json:"rule"`   // rule or scenario that decided it, or "manual"
	Reason  string     `json:"reason"` // human sentence
	Created time.Time  `json:"created"`
	Expires time.Time  `json:"expires"`
	Offense int        `json:"offense"` // 1 for a first ban, more for repeat offenders
}

// Active reports whether the ban is still in force at now.
func (b Ban) Active(now time.Time) bool { return now.Before(b.Expires) }

// BanStore holds the ban decisions. The in-memory store is the default; a shared decision
// engine (CrowdSec LAPI) can implement the same interface. IsBanned sits on the request path
// of every request and must answer from memory.
type BanStore interface {
	Ban(b Ban) error
	Unban(addr netip.Addr) (bool, error)
	IsBanned(addr netip.Addr, now time.Time) (Ban, bool)
	List(now time.Time) []Ban
}

// MemoryBans is the in-memory BanStore.
type MemoryBans struct {
	mu   sync.RWMutex
	bans map[netip.Addr]Ban
	// OnChange, if set, is called after every ban or unban (removed=true), outside the lock,
	// so the owner can persist decisions. Expiries are not reported: a saved expired ban is
	// dropped by Load.
	OnChange func(b Ban, removed bool)
}

// NewMemoryBans returns an empty store.
func NewMemoryBans() *MemoryBans { return &MemoryBans{bans: map[netip.Addr]Ban{}} }

// Load rebuilds the store from saved bans at start, skipping expired ones. It returns how many
// were restored.
func (m *MemoryBans) Load(saved []Ban, now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, b := range saved {
		if !b.Addr.IsValid() || !b.Active(now) {
			continue
		}
		b.Addr = b.Addr.Unmap()
		if old, ok := m.bans[b.Addr]; ok && old.Expires.After(b.Expires) {
			continue
		}
		m.bans[b.Addr] = b
		n++
	}
	return n
}

// Ban records b, replacing an earlier ban of the same address.
func (m *MemoryBans) Ban(b Ban) error {
	if !b.Addr.IsValid() {
		return fmt.Errorf("ban: invalid address")
	}
	if !b.Expires.After(b.Created) {
		return fmt.Errorf("ban %s: expiry %s is not after creation %s", b.Addr, b.Expires.Format(time.RFC3339), b.Created.Format(time.RFC3339))
	}
	b.Addr = b.Addr.Unmap()
	m.mu.Lock()
	m.bans[b.Addr] = b
	if len(m.bans) > 4096 && len(m.bans)%1024 == 0 {
		m.sweepLocked(b.Created)
	}
	m.mu.Unlock()
	if m.OnChange != nil {
		m.OnChange(b, false)
	}
	return nil
}

// Unban lifts the ban of addr, reporting whether there was one.
func (m *MemoryBans) Unban(addr netip.Addr) (bool, error) {
	addr = addr.Unmap()
	m.mu.Lock()
	b, ok := m.bans[addr]
	delete(m.bans, addr)
	m.mu.Unlock()
	if ok && m.OnChange != nil {
		m.OnChange(b, true)
	}
	return ok, nil
}

// IsBanned answers from memory.
func (m *MemoryBans) IsBanned(addr netip.Addr, now time.Time) (Ban, bool) {
	m.mu.RLock()
	b, ok := m.bans[addr]
	m.mu.RUnlock()
	if !ok || !b.Active(now) {
		return Ban{}, false
	}
	return b, true
}

// List returns the active bans, soonest expiry first, dropping expired ones.
func (m *MemoryBans) List(now time.Time) []Ban {
	m.mu.Lock()
	m.sweepLocked(now)
	out := make([]Ban, 0, len(m.bans))
	for _, b := range m.bans {
		out = append(out, b)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out
}

func (m *MemoryBans) sweepLocked(now time.Time) {
	for k, b := range m.bans {
		if !b.Active(now) {
			delete(m.bans, k)
		}
	}
}
