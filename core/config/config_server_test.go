package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Cases for the server, tls, headers and log sections (foundation).
func TestServerSectionsNameTheField(t *testing.T) {
	cases := map[string]string{
		"[server]\nread_header_timeout = \"60s\"\nread_timeout = \"10s\"\n":                                         "server.read_header_timeout",
		"[server]\nlisten = \"127.0.0.1:8443\"\nhttp_listen = \"127.0.0.1:8443\"\n":                                 "server.http_listen",
		"[server]\nmax_header_bytes = 10\n":                                                                         "server.max_header_bytes",
		"[server]\nshutdown_timeout = \"-1s\"\n":                                                                    "server.shutdown_timeout",
		"[server]\npublic_port = 70000\n":                                                                           "server.public_port",
		"[tls]\ndomains = [\"bad name.example\"]\n":                                                                 "tls.domains",
		"[tls]\ndomains = [\"a.example\"]\nacme_directory_url = \"http://x/dir\"\n":                                 "tls.acme_directory_url",
		"[tls]\nacme_ca_cert = \"/nonexistent/ca.pem\"\n":                                                           "tls.acme_ca_cert",
		"[tls]\nserver_names = [\"-bad-\"]\n":                                                                       "tls.server_names",
		"[headers]\nroutes = [{prefix = \"/a\", profile = \"strict\"}, {prefix = \"/a\", profile = \"default\"}]\n": "headers.routes",
		"[headers]\nroutes = [{prefix = \"a\", profile = \"strict\"}]\n":                                            "headers.routes",
		"[headers]\nroutes = [{prefix = \"/a\", profile = \"lax\"}]\n":                                              "headers.routes",
		"[log]\nlevel = \"verbose\"\n":                                                                              "log.level",
		"[log]\naccess = \"yes\"\n":                                                                                 "line 2",
	}
	dir := t.TempDir()
	for in, want := range cases {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) err = %v, want mention of %q", in, err, want)
		}
	}
}

func TestServerSectionsAccept(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("x"), 0o600)
	c := Default()
	in := "[server]\nlisten = \"[::1]:443\"\nhttp_listen = \"\"\npublic_port = 443\n" +
		"[tls]\ndomains = [\"shop.example.com\"]\nacme_ca_cert = \"" + ca + "\"\nserver_names = [\"10.0.0.5\", \"box.lan\"]\n" +
		"[headers]\nprofile = \"strict\"\nallow_app_loosen = true\nroutes = [{prefix = \"/public\", profile = \"default\"}]\n" +
		"[log]\nlevel = \"debug\"\naccess = false\n"
	if err := Decode([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Headers.Routes[0].Prefix != "/public" || c.Log.Access || c.TLS.ServerNames[1] != "box.lan" {
		t.Fatalf("decoded %+v", c)
	}
}
