package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/clients"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/pki"
	"bulwark/db"
)

// memBans is an in-memory ban store standing in for core/guard's.
type memBans struct {
	mu sync.Mutex
	m  map[netip.Prefix]adminapi.Ban
}

func (b *memBans) Bans(context.Context) ([]adminapi.Ban, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []adminapi.Ban{}
	for _, v := range b.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out, nil
}

func (b *memBans) Ban(_ context.Context, p netip.Prefix, d time.Duration, reason, source string) (adminapi.Ban, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := adminapi.Ban{IP: p.String(), Reason: reason, Source: source, Created: time.Now().UTC()}
	if d > 0 {
		v.Until = v.Created.Add(d)
	}
	b.m[p] = v
	return v, nil
}

func (b *memBans) Unban(_ context.Context, p netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[p]; !ok {
		return adminapi.Errorf(404, "ip", "%s is not banned", p)
	}
	delete(b.m, p)
	return nil
}

type harness struct {
	t     testing.TB
	dir   string
	ca    *pki.CA
	reg   *clients.Registry
	bus   *event.Bus
	srv   *Server
	bans  *memBans
	audit DBAudit
	store *db.DB
	admin *adminbundle.Bundle
	auth  *event.Subscription
}

func newHarness(t testing.TB, mod func(*Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := clients.Open(dir, ca)
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	audit := DBAudit{DB: store}
	bus := event.NewBus()
	h := &harness{t: t, dir: dir, ca: ca, reg: reg, bus: bus, bans: &memBans{m: map[netip.Prefix]adminapi.Ban{}}, audit: audit, store: store}
	h.auth = bus.Subscribe("test-auth", 4096)
	cfg := config.Default().Admin
	cfg.Listen = "127.0.0.1:0"
	opt := Options{Config: cfg, DataDir: dir, CA: ca, Clients: reg, Audit: audit, Bus: bus,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	opt.Bans = h.bans
	opt.Events = DBEvents{DB: store}
	if mod != nil {
		mod(&opt)
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	})
	if err := srv.Serve(ctx, ln); err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.admin, err = reg.Issue("root", adminbundle.RoleAdmin, 0, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) client(b *adminbundle.Bundle) *adminclient.Client {
	h.t.Helper()
	c, err := adminclient.New(b)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(c.Close)
	return c
}

func (h *harness) issue(name, role string) *adminbundle.Bundle {
	h.t.Helper()
	b, err := h.reg.Issue(name, role, 0, h.srv.Endpoint())
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// waitAuth waits for an admin_auth event whose rule is rule and returns it.
func (h *harness) waitAuth(rule string) event.Event {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-h.auth.C:
			if e.Kind == event.AdminAuth && (rule == "" || e.Rule == rule) {
				return e
			}
		case <-deadline:
			h.t.Fatalf("no admin_auth event with rule %q within 5s", rule)
		}
	}
}

func ctx5(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
