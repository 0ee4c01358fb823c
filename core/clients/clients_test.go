package clients

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/pki"
)

func TestRegisterSurvivesReopenAndRevocationSticks(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := Open(dir, ca)
	b, err := r.Issue("ops", "admin", 0, "127.0.0.1:9443")
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := b.Check()
	if d := time.Until(cert.NotAfter); d < 89*24*time.Hour || d > 91*24*time.Hour {
		t.Fatalf("default validity %s", d)
	}
	if _, err := r.Issue("ops", "admin", 0, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := r.Issue("bad name", "admin", 0, ""); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, err := r.Issue("x", "root", 0, ""); err == nil {
		t.Fatal("bad role accepted")
	}
	if st, _ := os.Stat(filepath.Join(dir, File)); st.Mode().Perm() != 0o600 {
		t.Fatalf("register mode %v", st.Mode())
	}
	r.Revoke("ops")
	r2, err := Open(dir, ca)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Check(cert); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revocation lost on reopen: %v", err)
	}
	// A certificate the CA signed but the register never saw is refused.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stray, _ := ca.Sign(pki.Leaf{CommonName: "stray", OrgUnit: "admin", Client: true}, &key.PublicKey)
	sc, _ := pki.ParseCert(stray)
	if _, err := r2.Check(sc); err == nil || !strings.Contains(err.Error(), "not in the client register") {
		t.Fatalf("unregistered certificate: %v", err)
	}
}

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	ca, _ := pki.LoadOrCreateCA(dir)
	r, _ := Open(dir, ca)
	now := time.Now()
	r.SetClock(func() time.Time { return now })
	if r.Outstanding() {
		t.Fatal("outstanding with no token")
	}
	secret, _, err := r.CreateToken("laptop", "viewer", 15*time.Minute)
	if err != nil || !r.Outstanding() {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, File))
	if strings.Contains(string(raw), secret) {
		t.Fatal("the token secret is stored in clear")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, _, _, err := r.Redeem(strings.Repeat("0", 64), &key.PublicKey, 0); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("unknown: %v", err)
	}
	now = now.Add(16 * time.Minute)
	if _, _, _, err := r.Redeem(secret, &key.PublicKey, 0); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	if r.Outstanding() {
		t.Fatal("expired token still outstanding")
	}
}
