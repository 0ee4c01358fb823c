package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/pki"
	"bulwark/ui/source"
)

func TestPackAppFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := packApp(dir); err == nil || !strings.Contains(err.Error(), "no app.json") {
		t.Fatalf("folder without app.json: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "app.json"), []byte(`{"name":"x","entry":"index.js"}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "node_modules", "left-pad"), 0o755)
	os.WriteFile(filepath.Join(dir, "node_modules", "left-pad", "index.js"), []byte("module.exports=1"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref"), 0o644)
	data, err := packApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	want := "app.json node_modules/ node_modules/left-pad/ node_modules/left-pad/index.js"
	if strings.Join(names, " ") != want {
		t.Fatalf("archive holds %v, want %s", names, want)
	}
}

// A bundle written the way the appliance writes it parses into the console's form.
func TestParseRealBundle(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.Leaf{CommonName: "alice", OrgUnit: adminbundle.RoleAdmin, Client: true, Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b := adminbundle.Bundle{Version: 1, Name: "alice", Role: adminbundle.RoleAdmin, Endpoint: "127.0.0.1:9443", CA: string(ca.CertPEM), Cert: string(certPEM), Key: string(keyPEM)}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := connector{}.ParseBundle(data)
	if err != nil || sb.Name != "alice" || sb.Addr != "127.0.0.1:9443" || sb.KeyPEM == "" {
		t.Fatalf("parsed %+v, %v", sb, err)
	}
	if _, err := (connector{}).ParseBundle([]byte(`{"hello":1}`)); err == nil {
		t.Fatal("garbage parsed as a bundle")
	}
}

func TestErrorKindsMapToTheConsoles(t *testing.T) {
	cases := []struct {
		in   error
		want error
	}{
		{adminclient.ErrCertificate, source.ErrRefused},
		{adminclient.ErrUnreachable, source.ErrUnreachable},
	}
	for _, c := range cases {
		err := wrap(c.in)
		if !errors.Is(err, c.want) || !errors.Is(err, c.in) {
			t.Errorf("wrap(%v) = %v", c.in, err)
		}
	}
}

// The appliance serves [waf] with TOML key names; each rule of an exclusion is one row.
func TestWAFDocMapsToExclusionRows(t *testing.T) {
	var w wafDoc
	doc := `{"mode":"block","paranoia":2,"exclusions":[{"app":"shop","prefix":"/search","rules":[942100,942430]}]}`
	if err := json.Unmarshal([]byte(doc), &w); err != nil {
		t.Fatal(err)
	}
	got := w.exclusions()
	want := []source.WAFExclusion{{Rule: "942100", Path: "/search", App: "shop"}, {Rule: "942430", Path: "/search", App: "shop"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || w.Mode != "block" || w.Paranoia != 2 {
		t.Fatalf("got %+v from %s", got, doc)
	}
}
