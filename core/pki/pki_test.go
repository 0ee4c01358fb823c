package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCAIsCreatedOnceAndReloaded(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode = %v, %v", st.Mode(), err)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Fatal("second LoadOrCreateCA made a new CA")
	}
	os.Remove(filepath.Join(dir, CAKeyFile))
	if _, err := LoadOrCreateCA(dir); err == nil || !strings.Contains(err.Error(), CAKeyFile) {
		t.Fatalf("half CA: err = %v", err)
	}
}

func TestServerCertVerifiesAgainstCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cp, kp := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	pair, err := ca.EnsureServerCert(cp, kp, []string{"localhost", "127.0.0.1"}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: ca.Pool()}); err != nil {
		t.Fatal(err)
	}
	again, err := ca.EnsureServerCert(cp, kp, []string{"localhost"}, 30*24*time.Hour)
	if err != nil || !again.Leaf.Equal(pair.Leaf) {
		t.Fatalf("a valid certificate was reissued: %v", err)
	}
	// Within the renewal window it is replaced.
	renewed, err := ca.EnsureServerCert(cp, kp, []string{"localhost"}, 398*24*time.Hour)
	if err != nil || renewed.Leaf.Equal(pair.Leaf) {
		t.Fatalf("expiring certificate not renewed: %v", err)
	}
	// A corrupt file is refused, not replaced.
	os.WriteFile(cp, []byte("garbage"), 0o644)
	if _, err := ca.EnsureServerCert(cp, kp, nil, time.Hour); err == nil || !strings.Contains(err.Error(), cp) {
		t.Fatalf("corrupt cert: err = %v", err)
	}
	if b, _ := os.ReadFile(cp); string(b) != "garbage" {
		t.Fatal("corrupt certificate was overwritten")
	}
}
