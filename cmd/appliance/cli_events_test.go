package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/admin"
	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/clients"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/pki"
	"bulwark/db"
)

// eventsAPI runs the real admin API (mTLS on loopback) over a real store in this process
// and returns the store and a bundle file for the CLI binary: lighter than `bulwark serve`
// for checking how the CLI shows what the API answers.
func eventsAPI(t *testing.T) (*db.DB, string) {
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
	cfg := config.Default().Admin
	cfg.Listen = "127.0.0.1:0"
	opt := admin.Options{Config: cfg, DataDir: dir, CA: ca, Clients: reg, Audit: admin.DBAudit{DB: store}, Bus: event.NewBus(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	opt.Events = admin.DBEvents{DB: store}
	srv, err := admin.New(opt)
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
	b, err := reg.Issue("cli", adminbundle.RoleViewer, 0, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cli.bundle")
	if err := b.Write(file); err != nil {
		t.Fatal(err)
	}
	return store, file
}

// TestEventsQueryShowsTotal: `bulwark events query` prints "showing N of TOTAL events" under
// its table and carries total (and total_capped) in --output json.
func TestEventsQueryShowsTotal(t *testing.T) {
	store, bundle := eventsAPI(t)
	base := time.Now().Add(-30 * time.Minute).UTC()
	err := store.Write(context.Background(), func(tx *sql.Tx) error {
		// 1234 probes through the writer's path would take seconds under -race; ip filters
		// are counted from the events, so plain rows are enough here.
		_, err := tx.Exec(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 1233)
			INSERT INTO events (ts, kind, severity, action, ip, path) SELECT ? + i * 1000000, 'probe', 'low', 'logged', '198.51.100.4', '/p' FROM s`,
			base.UnixNano())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		r := runBin(t, append([]string{"events", "query", "--bundle", bundle}, args...)...)
		if r.code != 0 {
			t.Fatalf("events query %v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	out := run("--ip", "198.51.100.4", "--limit", "50")
	if !strings.Contains(out, "showing 50 of 1,234 events\n") || !strings.Contains(out, "more: --cursor ") {
		t.Fatalf("table output lacks the total line:\n%s", out)
	}
	var page adminapi.EventPage
	if err := json.Unmarshal([]byte(run("--ip", "198.51.100.4", "--limit", "5", "--output", "json")), &page); err != nil {
		t.Fatal(err)
	}
	if page.Total != 1234 || page.TotalCapped || len(page.Events) != 5 {
		t.Fatalf("json: total %d capped %v, %d events", page.Total, page.TotalCapped, len(page.Events))
	}
	if out := run("--ip", "192.0.2.200"); !strings.Contains(out, "showing 0 of 0 events\n") {
		t.Fatalf("no match:\n%s", out)
	}
}

func TestShowingLine(t *testing.T) {
	for _, c := range []struct {
		p    adminapi.EventPage
		want string
	}{
		{adminapi.EventPage{Events: make([]event.Event, 50), Total: 1234}, "showing 50 of 1,234 events"},
		{adminapi.EventPage{Events: make([]event.Event, 1), Total: 1}, "showing 1 of 1 event"},
		{adminapi.EventPage{Events: make([]event.Event, 10), Total: 100000, TotalCapped: true}, "showing 10 of more than 100,000 events"},
		{adminapi.EventPage{Total: 1234567890}, "showing 0 of 1,234,567,890 events"},
		{adminapi.EventPage{Events: make([]event.Event, 999), Total: 999}, "showing 999 of 999 events"},
	} {
		if got := showingLine(c.p); got != c.want {
			t.Errorf("%d of %d (capped %v): %q, want %q", len(c.p.Events), c.p.Total, c.p.TotalCapped, got, c.want)
		}
	}
}
