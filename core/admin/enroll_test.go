package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/pki"
)

func TestEnrollmentTokenWorksOnce(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.client(h.admin)
	inv, err := admin.Invite(ctx5(t), "laptop", "viewer", "")
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(inv.Expires) < 14*time.Minute || time.Until(inv.Expires) > 16*time.Minute {
		t.Fatalf("default token lifetime: expires %s", inv.Expires)
	}
	spare, err := admin.Invite(ctx5(t), "spare", "viewer", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := adminbundle.ParseToken(inv.Token)
	if err != nil || tok.CAFingerprint != h.ca.Fingerprint() || tok.Endpoint != h.srv.Endpoint() {
		t.Fatalf("token %+v %v", tok, err)
	}
	b, err := adminclient.Enroll(ctx5(t), inv.Token)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "laptop" || b.Role != "viewer" {
		t.Fatalf("bundle %+v", b)
	}
	st, err := h.client(b).Status(ctx5(t))
	if err != nil || st.Client.Name != "laptop" {
		t.Fatalf("enrolled bundle: %+v %v", st, err)
	}
	if e := h.waitAuth("admin.enroll"); !strings.Contains(string(e.Detail), `"ok":true`) {
		t.Fatalf("success not logged: %s", e.Detail)
	}
	// Reuse is refused and logged.
	_, err = adminclient.Enroll(ctx5(t), inv.Token)
	var re *adminclient.RequestError
	if !errors.As(err, &re) || re.Status != 403 || !strings.Contains(re.Message, "already used") {
		t.Fatalf("reuse: %v", err)
	}
	if e := h.waitAuth("admin.enroll"); !strings.Contains(string(e.Detail), "already used") {
		t.Fatalf("reuse not logged: %s", e.Detail)
	}
	if _, err := adminclient.Enroll(ctx5(t), spare.Token); err != nil {
		t.Fatal(err)
	}
	h.waitAuth("admin.enroll")
	// With no token outstanding, a certificate-less connection is refused at the handshake,
	// even on the enrollment name.
	_, err = adminclient.Enroll(ctx5(t), inv.Token)
	if err == nil {
		t.Fatal("enrollment answered with no token outstanding")
	}
	h.waitAuth("admin.handshake")
	list, _ := admin.Clients(ctx5(t))
	n := 0
	for _, c := range list {
		if c.Name == "laptop" {
			n++
			if !c.Enrolled {
				t.Error("enrolled flag missing")
			}
		}
	}
	if n != 1 {
		t.Fatalf("want one laptop certificate, got %d", n)
	}
}

func TestEnrollmentExpiredTokenRefused(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now()
	h.reg.SetClock(func() time.Time { return now })
	inv, err := h.client(h.admin).Invite(ctx5(t), "late", "admin", "1m")
	if err != nil {
		t.Fatal(err)
	}
	// Another token keeps the enrollment door open so the expired one reaches the handler.
	if _, err := h.client(h.admin).Invite(ctx5(t), "other", "viewer", "1h"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	_, err = adminclient.Enroll(ctx5(t), inv.Token)
	var re *adminclient.RequestError
	if !errors.As(err, &re) || re.Status != 403 || !strings.Contains(re.Message, "expired") {
		t.Fatalf("expired token: %v", err)
	}
	if e := h.waitAuth("admin.enroll"); !strings.Contains(string(e.Detail), "expired") || e.IP != "127.0.0.1" {
		t.Fatalf("expired attempt not logged: %+v %s", e, e.Detail)
	}
}

func TestEnrollmentWrongFingerprintRefusedByClient(t *testing.T) {
	h := newHarness(t, nil)
	inv, err := h.client(h.admin).Invite(ctx5(t), "mitm", "viewer", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := adminbundle.ParseToken(inv.Token)
	other, _ := pki.LoadOrCreateCA(t.TempDir())
	tok.CAFingerprint = other.Fingerprint()
	_, err = adminclient.Enroll(ctx5(t), tok.String())
	if !errors.Is(err, adminclient.ErrCertificate) || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("want fingerprint refusal, got %v", err)
	}
	// The token was not consumed: the real enrollment still works.
	if _, err := adminclient.Enroll(ctx5(t), inv.Token); err != nil {
		t.Fatalf("genuine enrollment after a refused one: %v", err)
	}
}

func TestEnrollmentRateLimited(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Config.EnrollPerMinute = 3 })
	inv, err := h.client(h.admin).Invite(ctx5(t), "guess", "viewer", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := adminbundle.ParseToken(inv.Token)
	tok.Secret = strings.Repeat("0", 64)
	var last error
	for i := 0; i < 5; i++ {
		_, last = adminclient.Enroll(context.Background(), tok.String())
	}
	var re *adminclient.RequestError
	if !errors.As(last, &re) || re.Status != 429 {
		t.Fatalf("want 429 after repeated guesses, got %v", last)
	}
	if _, err := adminclient.Enroll(ctx5(t), inv.Token); err == nil {
		t.Fatal("rate limit let a request through")
	}
}
