package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/ui"
	"bulwark/ui/source"
)

// Against a real appliance: the console's connector enrolls with a token (its own key),
// connects, is refused once revoked, and reports a stopped address as unreachable; and the
// console imports the appliance's own first bundle headlessly and shows it connected.
func TestConnectorAgainstRealAppliance(t *testing.T) {
	bulwark, _ := build(t)
	data, _ := serve(t, bulwark)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	admin, err := adminclient.Open(filepath.Join(data, "admin.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	inv, err := admin.Invite(ctx, "colleague", adminbundle.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := connector{}.Enroll(ctx, inv.Token)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if b.Name != "colleague" || !strings.Contains(b.KeyPEM, "PRIVATE KEY") {
		t.Fatalf("enrolled bundle %+v", b.Name)
	}
	if _, err := (connector{}).Enroll(ctx, inv.Token); err == nil {
		t.Fatal("a used token enrolled twice")
	}
	app, err := connector{}.Open(ctx, b)
	if err != nil {
		t.Fatalf("open enrolled: %v", err)
	}
	st, err := app.Status(ctx)
	if err != nil || st.Name != "colleague" {
		t.Fatalf("status as colleague: %+v %v", st, err)
	}
	app.Close()

	if _, err := admin.Revoke(ctx, "colleague"); err != nil {
		t.Fatal(err)
	}
	if _, err := (connector{}).Open(ctx, b); !errors.Is(err, source.ErrRefused) {
		t.Fatalf("revoked certificate: %v, want ErrRefused", err)
	}
	gone := b
	gone.Addr = freePort(t)
	if _, err := (connector{}).Open(ctx, gone); !errors.Is(err, source.ErrUnreachable) {
		t.Fatalf("nothing listening: %v, want ErrUnreachable", err)
	}

	// The console window (test driver) imports the first admin bundle through the real
	// connector and shows the appliance connected with its version.
	a := test.NewTempApp(t)
	store, err := ui.NewProfiles(filepath.Join(t.TempDir(), "appliances"))
	if err != nil {
		t.Fatal(err)
	}
	c := ui.New(a, connector{}, store, ui.Options{})
	defer func() { c.Close(); c.Wait() }()
	c.ImportFile(filepath.Join(data, "admin.bundle"))
	c.Wait()
	if title := c.Window().Title(); !strings.Contains(title, "connected") {
		t.Fatalf("window title after import: %q", title)
	}
	if list, err := store.List(); err != nil || len(list) != 1 {
		t.Fatalf("stored: %+v %v", list, err)
	}
}
