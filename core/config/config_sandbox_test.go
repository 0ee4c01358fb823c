package config

import (
	"strings"
	"testing"
)

func TestSandboxSection(t *testing.T) {
	c := Default()
	if err := Decode([]byte("[sandbox]\nrestart_backoff = \"100ms\"\nrestart_backoff_max = \"2s\"\naddress_slack_mb = 128\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Sandbox.RestartBackoff.D().Milliseconds() != 100 || c.Sandbox.AddressSlackMB != 128 || !c.Sandbox.DemoApp {
		t.Fatalf("decoded %+v", c.Sandbox)
	}
	for _, bad := range []struct{ toml, field string }{
		{"[sandbox]\naddress_slack_mb = 1\n", "sandbox.address_slack_mb"},
		{"[sandbox]\nrestart_backoff = \"1s\"\nrestart_backoff_max = \"10ms\"\n", "sandbox.restart_backoff_max"},
		{"[sandbox]\nhealth_timeout = \"0s\"\n", "sandbox.health_timeout"},
	} {
		c := Default()
		if err := Decode([]byte(bad.toml), &c); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("%q: error %v does not name %s", bad.toml, err, bad.field)
		}
	}
	c = Default()
	if err := Decode([]byte("[sandbox]\nworkers_max = 3\n"), &c); err == nil || !strings.Contains(err.Error(), "sandbox.workers_max") {
		t.Errorf("unknown key: %v", err)
	}
}
