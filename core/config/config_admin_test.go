package config

import (
	"strings"
	"testing"
)

func TestAdminDefaultsValid(t *testing.T) {
	c := Default()
	if err := c.Admin.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Admin.ClientValidity.D().Hours() != 90*24 {
		t.Fatalf("client validity default %s", c.Admin.ClientValidity.D())
	}
}

func TestAdminRejects(t *testing.T) {
	for _, tc := range []struct{ toml, field string }{
		{"[admin]\nlisten = \"0.0.0.0:9443\"\n", "admin.listen"},
		{"[admin]\nclient_validity = \"10m\"\n", "admin.client_validity"},
		{"[admin]\nenroll_ttl = \"-1s\"\n", "admin.enroll_ttl"},
		{"[admin]\nenroll_per_minute = 0\n", "admin.enroll_per_minute"},
		{"[admin]\nmax_body_bytes = 10\n", "admin.max_body_bytes"},
	} {
		c := Default()
		if err := Decode([]byte(tc.toml), &c); err != nil {
			t.Fatalf("%q: decode: %v", tc.toml, err)
		}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: want error naming %s, got %v", tc.toml, tc.field, err)
		}
	}
	c := Default()
	if err := Decode([]byte("[admin]\nclient_validity = \"ninety days\"\n"), &c); err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("bad duration: %v", err)
	}
	c = Default()
	if err := Decode([]byte("[admin]\nlisten = \"0.0.0.0:9443\"\nallow_remote = true\n"), &c); err != nil || c.Validate() != nil {
		t.Errorf("allow_remote should permit a non-loopback listen: %v %v", err, c.Validate())
	}
}
