package admin

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"bulwark/core/adminclient"
	"bulwark/core/event"
	"bulwark/core/guard"
)

func TestGuardBansThroughTheAPI(t *testing.T) {
	g, err := guard.New(guard.DefaultOptions(), nil, event.Discard)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) { o.Bans = GuardBans{Guard: g} })
	c := h.client(h.admin)
	b, err := c.Ban(ctx5(t), "203.0.113.50", "1h", "probing")
	if err != nil || b.IP != "203.0.113.50" || b.Until.Sub(time.Now()) < 59*time.Minute {
		t.Fatalf("ban: %+v %v", b, err)
	}
	if _, banned := g.Store().IsBanned(netip.MustParseAddr("203.0.113.50"), time.Now()); !banned {
		t.Fatal("the guard does not refuse the banned address")
	}
	if b, err := c.Ban(ctx5(t), "203.0.113.51", "", ""); err != nil || !b.Until.IsZero() {
		t.Fatalf("ban until removed: %+v %v", b, err)
	}
	var re *adminclient.RequestError
	if _, err := c.Ban(ctx5(t), "203.0.113.0/24", "1h", ""); !errors.As(err, &re) || re.Status != 400 || re.Field != "ip" {
		t.Fatalf("network ban: %v", err)
	}
	list, _ := c.Bans(ctx5(t))
	if len(list) != 2 {
		t.Fatalf("bans: %+v", list)
	}
	if err := c.Unban(ctx5(t), "203.0.113.50"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unban(ctx5(t), "203.0.113.50"); !errors.As(err, &re) || re.Status != 404 {
		t.Fatalf("second unban: %v", err)
	}
	if _, banned := g.Store().IsBanned(netip.MustParseAddr("203.0.113.50"), time.Now()); banned {
		t.Fatal("unban did not reach the guard")
	}
}
