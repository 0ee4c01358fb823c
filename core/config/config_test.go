package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeOverridesDefaults(t *testing.T) {
	c := Default()
	err := Decode([]byte("data = \"/var/lib/bulwark\"\n[server]\nread_timeout = \"7s\"\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/var/lib/bulwark" || c.Server.ReadTimeout.D() != 7*time.Second {
		t.Fatalf("got %+v", c)
	}
	if c.Server.Listen != "127.0.0.1:8443" {
		t.Fatalf("default lost: listen = %q", c.Server.Listen)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	c := Default()
	err := Decode([]byte("[server]\nlisten = \"127.0.0.1:1\"\nreed_timeout = \"5s\"\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "server.reed_timeout") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want it to name server.reed_timeout on line 3", err)
	}
}

func TestBadValuesNameTheField(t *testing.T) {
	cases := map[string]string{
		"[server]\nread_timeout = \"soon\"\n":  "line 2",
		"[server]\nmax_conns_per_ip = 0\n":     "server.max_conns_per_ip",
		"[server]\nlisten = \"nope\"\n":        "server.listen",
		"[admin]\nlisten = \"0.0.0.0:9443\"\n": "admin.allow_remote",
		"[headers]\nprofile = \"lax\"\n":       "headers.profile",
		"[waf]\nmode = \"maybe\"\n":            "waf.mode",
		"[server]\nlisten = \n":                "line 2",
		"[log]\nlevel = \"loud\"\n":            "log.level",
		"[tls]\ndomains = [\"10.0.0.1\"]\n":    "tls.domains",
		"[store]\nbatch_size = -1\n":           "store.batch_size",
	}
	dir := t.TempDir()
	for in, want := range cases {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("Load(%q) err = %v, want mention of %q and the file", in, err, want)
		}
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.toml")); err == nil || !strings.Contains(err.Error(), "none.toml") {
		t.Fatalf("err = %v", err)
	}
}
