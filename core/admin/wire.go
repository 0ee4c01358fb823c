package admin

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/guard"
)

// This file adapts the guard to the small interfaces of services.go, so the composition
// root wires it in one line (apps are adapted in core/appliance.AppsService).

// forever is how a ban "until removed" is stored in a guard that needs a duration.
const forever = 100 * 365 * 24 * time.Hour

// GuardBans exposes the guard's ban decisions (single addresses; networks belong in the
// deny list).
type GuardBans struct{ Guard *guard.Guard }

func toBan(b guard.Ban, now time.Time) adminapi.Ban {
	out := adminapi.Ban{IP: b.Addr.String(), Reason: b.Reason, Source: b.Rule, Created: b.Created.UTC(), Until: b.Expires.UTC()}
	if b.Expires.Sub(now) > forever/2 {
		out.Until = time.Time{}
	}
	return out
}

// Bans lists the active bans.
func (g GuardBans) Bans(context.Context) ([]adminapi.Ban, error) {
	now := time.Now()
	var out []adminapi.Ban
	for _, b := range g.Guard.Store().List(now) {
		out = append(out, toBan(b, now))
	}
	return out, nil
}

// Ban bans one address.
func (g GuardBans) Ban(_ context.Context, p netip.Prefix, d time.Duration, reason, source string) (adminapi.Ban, error) {
	if !p.IsSingleIP() {
		return adminapi.Ban{}, adminapi.Errorf(400, "ip", "bans are per address; put the network %s in the deny list instead", p)
	}
	if d == 0 {
		d = forever
	}
	if reason == "" {
		reason = "banned by " + source
	}
	b, err := g.Guard.Ban(p.Addr(), d, "manual", reason)
	if err != nil {
		if errors.Is(err, guard.ErrAllowlisted) {
			return adminapi.Ban{}, adminapi.Errorf(409, "ip", "%v", err)
		}
		return adminapi.Ban{}, err
	}
	return toBan(b, time.Now()), nil
}

// Unban lifts a ban.
func (g GuardBans) Unban(_ context.Context, p netip.Prefix) error {
	if !p.IsSingleIP() {
		return adminapi.Errorf(400, "ip", "bans are per address, got the network %s", p)
	}
	ok, err := g.Guard.Unban(p.Addr())
	if err != nil {
		return err
	}
	if !ok {
		return adminapi.Errorf(404, "ip", "%s is not banned", p.Addr())
	}
	return nil
}
