package adminbundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark/core/pki"
)

func testBundle(t *testing.T) *Bundle {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _ := ca.Issue(pki.Leaf{CommonName: "ops", OrgUnit: "admin", Client: true})
	return &Bundle{Version: 1, Name: "ops", Role: "admin", Endpoint: "127.0.0.1:9443", CA: string(ca.CertPEM), Cert: string(cert), Key: string(key)}
}

func TestLoadChecks(t *testing.T) {
	dir := t.TempDir()
	b := testBundle(t)
	p := filepath.Join(dir, "ok.bundle")
	if err := b.Write(p); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o640)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable bundle: %v", err)
	}
	for name, mut := range map[string]func(*Bundle){
		"private key is missing":        func(x *Bundle) { x.Key = "" },
		"endpoint is missing":           func(x *Bundle) { x.Endpoint = "" },
		"does not match":                func(x *Bundle) { x.Key = testBundle(t).Key },
		"not signed by the bundle's CA": func(x *Bundle) { x.CA = testBundle(t).CA },
	} {
		c := *b
		mut(&c)
		q := filepath.Join(dir, "x.bundle")
		c.Write(q)
		if _, err := Load(q); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte(`{"name":"x","extra":1}`), 0o600)
	if _, err := Load(filepath.Join(dir, "junk")); err == nil || !strings.Contains(err.Error(), "not a bundle") {
		t.Errorf("junk: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "BULWARK_BUNDLE") {
		t.Errorf("absent: %v", err)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	tok := Token{Endpoint: "127.0.0.1:9443", CAFingerprint: strings.Repeat("ab", 32), Secret: strings.Repeat("cd", 32)}
	got, err := ParseToken(" " + tok.String() + "\n")
	if err != nil || got != tok {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{"", "bwk1.!!!", "hello", "bwk1.e30"} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
