package admin

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminclient"
	"bulwark/core/config"
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

func TestConfigDocsReadOnly(t *testing.T) {
	cfg := config.Default()
	cfg.Guard.Allow = []string{"10.0.0.0/8"}
	h := newHarness(t, func(o *Options) {
		o.Policies, o.Settings = PolicyDocs(cfg), SettingsDocs(cfg)
		o.Lists = ConfigLists{Allow: cfg.Guard.Allow}
	})
	c := h.client(h.admin)
	s, err := c.Settings(ctx5(t))
	if err != nil || !strings.Contains(string(s["listeners"]), `"admin":"127.0.0.1:9443"`) || !strings.Contains(string(s["store"]), `"retention"`) {
		t.Fatalf("settings: %s %v", s, err)
	}
	p, err := c.Policy(ctx5(t), "waf")
	if err != nil || !strings.HasPrefix(string(p), "{") {
		t.Fatalf("waf policy: %s %v", p, err)
	}
	var re *adminclient.RequestError
	if err := c.PutPolicy(ctx5(t), "waf", json.RawMessage(`{"mode":"off"}`)); !errors.As(err, &re) || re.Status != 501 || !strings.Contains(re.Message, "configuration file") {
		t.Fatalf("put policy: %v", err)
	}
	if _, err := c.Policy(ctx5(t), "nope"); !errors.As(err, &re) || re.Status != 404 {
		t.Fatalf("unknown policy: %v", err)
	}
	l, err := c.Access(ctx5(t), "allow")
	if err != nil || len(l) != 1 || l[0].CIDR != "10.0.0.0/8" {
		t.Fatalf("allow list: %+v %v", l, err)
	}
	if err := c.AccessAdd(ctx5(t), "deny", "192.0.2.0/24", ""); !errors.As(err, &re) || re.Status != 501 {
		t.Fatalf("deny add: %v", err)
	}
}

func TestEndpointForWildcard(t *testing.T) {
	cfg := config.Default().Admin
	for in, want := range map[string]string{"0.0.0.0:9443": "127.0.0.1:9443", "[::]:9443": "127.0.0.1:9443", "192.0.2.4:9443": "192.0.2.4:9443", ":9443": "127.0.0.1:9443"} {
		if got := EndpointFor(cfg, in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	cfg.ServerNames = []string{"admin.example"}
	if got := EndpointFor(cfg, "0.0.0.0:9443"); got != "admin.example:9443" {
		t.Errorf("with server_names: %s", got)
	}
}
