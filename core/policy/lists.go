package policy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/guard"
)

// Lists are the live allow and deny lists: the configuration file's guard.allow and
// guard.deny as a fixed base, plus the entries the operator adds through the admin API
// (saved in the store). The guard enforces the union of both; a config entry cannot be
// removed through the API (it would come back at the next start), an operator entry can.
type Lists struct {
	guard *guard.Guard
	store Store
	base  map[string][]string // "allow"/"deny" → config entries

	mu  sync.Mutex
	ops []Entry
}

// NewLists loads the operator's saved entries and applies base plus saved to the guard.
// A saved entry the guard refuses (it cannot happen through the API) is logged and left
// out rather than stopping the appliance.
func NewLists(ctx context.Context, g *guard.Guard, store Store, allow, deny []string, log *slog.Logger) (*Lists, error) {
	l := &Lists{guard: g, store: store, base: map[string][]string{"allow": slices.Clone(allow), "deny": slices.Clone(deny)}}
	saved, err := store.Access(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range saved {
		if _, err := guard.ParseIPList("guard."+e.List, []string{e.CIDR}); err != nil {
			log.Warn("access lists: saved entry refused, left out", "list", e.List, "cidr", e.CIDR, "err", err)
			continue
		}
		l.ops = append(l.ops, e)
	}
	a, d := l.union(l.ops)
	if err := g.SetLists(a, d); err != nil {
		return nil, fmt.Errorf("access lists: %w", err)
	}
	return l, nil
}

func (l *Lists) union(ops []Entry) (allow, deny []string) {
	allow, deny = slices.Clone(l.base["allow"]), slices.Clone(l.base["deny"])
	for _, e := range ops {
		if e.List == "allow" {
			allow = append(allow, e.CIDR)
		} else {
			deny = append(deny, e.CIDR)
		}
	}
	return allow, deny
}

// List returns a list's entries: the configuration's first, then the operator's.
func (l *Lists) List(_ context.Context, list string) ([]adminapi.AccessEntry, error) {
	out := []adminapi.AccessEntry{}
	for _, c := range l.base[list] {
		out = append(out, adminapi.AccessEntry{CIDR: c, Note: "guard." + list + " in the configuration file"})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ops {
		if e.List == list {
			out = append(out, adminapi.AccessEntry{CIDR: e.CIDR, Note: e.Note, Created: e.Created})
		}
	}
	return out, nil
}

// same reports whether entry (as written) denotes the prefix p.
func same(entry string, p netip.Prefix) bool {
	q, err := netip.ParsePrefix(entry)
	if err != nil {
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return false
		}
		a = a.Unmap()
		q = netip.PrefixFrom(a, a.BitLen())
	}
	return q.Masked() == p.Masked()
}

// Add validates p, saves it and applies it at once. An entry already in the list (from
// the file or the API) is a conflict.
func (l *Lists) Add(ctx context.Context, list string, p netip.Prefix, note string) error {
	if list != "allow" && list != "deny" {
		return adminapi.Errorf(404, "list", "no access list %q (allow, deny)", list)
	}
	if len(note) > 500 {
		return adminapi.Errorf(400, "note", "is %d bytes; at most 500", len(note))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.base[list] {
		if same(c, p) {
			return adminapi.Errorf(409, "cidr", "%s is already in the %s list (guard.%s in the configuration file)", p, list, list)
		}
	}
	for _, e := range l.ops {
		if e.List == list && same(e.CIDR, p) {
			return adminapi.Errorf(409, "cidr", "%s is already in the %s list", p, list)
		}
	}
	if len(l.ops) >= 10000 {
		return adminapi.Errorf(409, "cidr", "the access lists hold %d operator entries already; merge them into networks", len(l.ops))
	}
	e := Entry{List: list, CIDR: p.String(), Note: note, Created: time.Now().UTC(), By: "admin"}
	ops := append(slices.Clone(l.ops), e)
	a, d := l.union(ops)
	if _, err := guard.ParseIPList("guard.allow", a); err != nil {
		return adminapi.Errorf(400, "cidr", "%v", err)
	}
	if _, err := guard.ParseIPList("guard.deny", d); err != nil {
		return adminapi.Errorf(400, "cidr", "%v", err)
	}
	if err := l.store.addAccess(ctx, e); err != nil {
		return err
	}
	if err := l.guard.SetLists(a, d); err != nil { // validated above; kept for safety
		return err
	}
	l.ops = ops
	return nil
}

// Remove drops an operator entry; entries of the configuration file are refused.
func (l *Lists) Remove(ctx context.Context, list string, p netip.Prefix) error {
	if list != "allow" && list != "deny" {
		return adminapi.Errorf(404, "list", "no access list %q (allow, deny)", list)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := -1
	for i, e := range l.ops {
		if e.List == list && same(e.CIDR, p) {
			idx = i
		}
	}
	if idx < 0 {
		for _, c := range l.base[list] {
			if same(c, p) {
				return adminapi.Errorf(409, "cidr", "%s is in guard.%s of the configuration file: remove it there and restart bulwark", c, list)
			}
		}
		return adminapi.Errorf(404, "cidr", "%s is not in the %s list", p, list)
	}
	ops := slices.Delete(slices.Clone(l.ops), idx, idx+1)
	a, d := l.union(ops)
	if err := l.store.removeAccess(ctx, list, l.ops[idx].CIDR); err != nil {
		return err
	}
	if err := l.guard.SetLists(a, d); err != nil {
		return err
	}
	l.ops = ops
	return nil
}
