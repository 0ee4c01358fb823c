package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark/ui/source"
)

func TestProfilesArePrivateAndLooseFilesAreRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "appliances")
	p, err := NewProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"prod/eu", "lab"} {
		if err := p.Save(source.Bundle{Label: label, Addr: "127.0.0.1:9443", KeyPEM: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 || strings.Contains(e.Name(), "/") {
			t.Fatalf("%s has mode %v", e.Name(), fi.Mode())
		}
	}
	list, err := p.List()
	if err != nil || len(list) != 2 || list[0].Label != "lab" {
		t.Fatalf("list %+v %v", list, err)
	}
	// A stored key someone made world-readable is not used silently.
	os.Chmod(p.path("lab"), 0o644)
	list, err = p.List()
	if len(list) != 1 || err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose file: %+v %v", list, err)
	}
	if err := p.Remove("prod/eu"); err != nil {
		t.Fatal(err)
	}
	if err := p.Save(source.Bundle{}); err == nil {
		t.Fatal("saved a bundle without a label")
	}
}
