package certs

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bulwark/core/config"
	"bulwark/core/pki"
)

func hello(name string) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{ServerName: name} }

func TestCACertificateCoversLoopbackAndServerNames(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default().TLS
	cfg.ServerNames = []string{"box.lan", "10.1.2.3"}
	s, err := New(cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.GetCertificate(hello(""))
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	for _, n := range []string{"127.0.0.1", "::1", "localhost", "box.lan", "10.1.2.3"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if s.ACME() || slices.Contains(s.ALPN, "acme-tls/1") {
		t.Fatal("ACME on without domains")
	}
}

// Adding a server name later reissues the server certificate; the CA key is untouched.
func TestNewNameReissuesServerCertOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(config.Default().TLS, dir, nil); err != nil {
		t.Fatal(err)
	}
	caKey, _ := os.ReadFile(filepath.Join(dir, pki.CAKeyFile))
	cfg := config.Default().TLS
	cfg.ServerNames = []string{"later.lan"}
	s, err := New(cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.GetCertificate(hello("later.lan"))
	if err := c.Leaf.VerifyHostname("later.lan"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, pki.CAKeyFile)); string(b) != string(caKey) {
		t.Fatal("CA key changed")
	}
}

// A corrupt server certificate is an error naming the file, and the file is left as it was.
func TestCorruptServerCertIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(config.Default().TLS, dir, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, pki.ServerCertFile)
	junk := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	os.WriteFile(p, junk, 0o644)
	_, err := New(config.Default().TLS, dir, nil)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want it to name %s", err, p)
	}
	if b, _ := os.ReadFile(p); string(b) != string(junk) {
		t.Fatal("corrupt file was overwritten")
	}
}

// A server certificate from another CA (a data folder assembled from two appliances) is
// refused rather than served.
func TestForeignServerCertIsRefused(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if _, err := New(config.Default().TLS, dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(config.Default().TLS, other, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{pki.ServerCertFile, pki.ServerKeyFile} {
		b, _ := os.ReadFile(filepath.Join(other, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	if _, err := New(config.Default().TLS, dir, nil); err == nil || !strings.Contains(err.Error(), "not issued by the CA") {
		t.Fatalf("err = %v", err)
	}
}

func TestACMESetup(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default().TLS
	cfg.Domains = []string{"shop.example.com"}
	cfg.ACMECACert = filepath.Join(dir, "not-a-cert.pem")
	os.WriteFile(cfg.ACMECACert, []byte("hello"), 0o600)
	if _, err := New(cfg, dir, nil); err == nil || !strings.Contains(err.Error(), "tls.acme_ca_cert") {
		t.Fatalf("bad ACME CA: err = %v", err)
	}
	cfg.ACMECACert = ""
	s, err := New(cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ACME() || !slices.Contains(s.ALPN, "acme-tls/1") {
		t.Fatal("ACME not on")
	}
	if st, err := os.Stat(filepath.Join(dir, ACMEDir)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("ACME cache folder: %v %v", st, err)
	}
	// Names other than the ACME domains (loopback, IPs) still get the CA certificate, without
	// contacting any ACME server.
	c, err := s.GetCertificate(hello("127.0.0.1"))
	if err != nil || c.Leaf.VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("loopback with ACME on: %v", err)
	}
}
