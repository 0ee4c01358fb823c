package policy

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"bulwark/core/guard"
	"bulwark/db"
)

func openStore(t *testing.T) Store {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return Store{DB: d}
}

// While the store's writer is held by another transaction, bans keep being decided (the
// guard's OnChange returns at once), and once the store is free every decision lands in
// it, the last state per address winning.
func TestBanWriterNeverWaitsOnTheStore(t *testing.T) {
	st := openStore(t)
	bans := guard.NewMemoryBans()
	w := NewBanWriter(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	bans.OnChange = w.OnChange
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	held, release := make(chan struct{}), make(chan struct{})
	go st.DB.Write(context.Background(), func(*sql.Tx) error { close(held); <-release; return nil })
	<-held

	now := time.Now()
	decided := make(chan struct{})
	go func() {
		defer close(decided)
		for i := range 1000 {
			a := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
			bans.Ban(guard.Ban{Addr: a, Rule: "probe", Reason: "test", Created: now, Expires: now.Add(time.Hour), Offense: 2})
		}
		bans.Unban(netip.AddrFrom4([4]byte{198, 51, 0, 7})) // collapses with its ban
	}()
	select {
	case <-decided:
	case <-time.After(10 * time.Second):
		t.Fatal("ban decisions waited for the busy store")
	}
	if _, ok := bans.IsBanned(netip.AddrFrom4([4]byte{198, 51, 0, 8}), time.Now()); !ok {
		t.Fatal("ban not in force while the store is busy")
	}
	close(release)

	deadline := time.Now().Add(10 * time.Second)
	for {
		saved, err := st.SavedBans(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(saved) == 999 {
			for _, b := range saved {
				if b.Addr == netip.AddrFrom4([4]byte{198, 51, 0, 7}) {
					t.Fatal("an unbanned address was saved")
				}
				if b.Offense != 2 || b.Rule != "probe" || !b.Expires.Equal(now.Add(time.Hour).Round(0)) {
					t.Fatalf("saved ban %+v", b)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bans saved, want 999", len(saved))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A change made just before shutdown is flushed by Run on its way out.
	bans.Ban(guard.Ban{Addr: netip.MustParseAddr("2001:db8::1"), Rule: "manual", Reason: "last", Created: now, Expires: now.Add(time.Hour)})
	cancel()
	<-done
	saved, _ := st.SavedBans(context.Background(), time.Now())
	if len(saved) != 1000 {
		t.Fatalf("after shutdown %d bans saved, want 1000", len(saved))
	}
}

// Expired rows are neither returned nor kept.
func TestSavedBansDropExpired(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	err := st.writeBans(context.Background(), []banChange{
		{b: guard.Ban{Addr: netip.MustParseAddr("192.0.2.1"), Rule: "manual", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}},
		{b: guard.Ban{Addr: netip.MustParseAddr("192.0.2.2"), Rule: "manual", Created: now, Expires: now.Add(time.Hour)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := st.SavedBans(context.Background(), now)
	if err != nil || len(saved) != 1 || saved[0].Addr.String() != "192.0.2.2" {
		t.Fatalf("saved: %+v %v", saved, err)
	}
	var rows int
	st.DB.Reader().QueryRow(`SELECT count(*) FROM policy_bans`).Scan(&rows)
	if rows != 1 {
		t.Fatalf("%d rows left, want the expired one deleted", rows)
	}
}
