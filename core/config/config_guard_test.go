package config

import (
	"strings"
	"testing"
)

func TestGuardDefaultsValidate(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGuardBadInputNamesTheField(t *testing.T) {
	cases := []struct{ toml, want string }{
		{"[guard]\nallow = [\"10.0.0.0/8\", \"10.0.0.300/24\"]\n", `guard.allow[1]: "10.0.0.300/24"`},
		{"[guard]\ndeny = [\"192.168.1.1/16\"]\n", `guard.deny[0]: "192.168.1.1/16" has host bits set; did you mean "192.168.0.0/16"`},
		{"[guard]\ndeny = [\"nope\"]\n", `guard.deny[0]: "nope"`},
		{"[[guard.rules]]\nname = \"x\"\nkinds = [\"sqli\", \"bogus\"]\nmax_matches = 3\nfind_time = \"1m\"\nban_time = \"1h\"\n", `guard.rules[0].kinds[1]: rule "x": unknown event kind "bogus"`},
		{"[[guard.rules]]\nname = \"x\"\nkinds = [\"sqli\"]\nmax_matches = 0\nfind_time = \"1m\"\nban_time = \"1h\"\n", `guard.rules[0].max_matches`},
		{"[[guard.rules]]\nname = \"x\"\nkinds = [\"sqli\"]\nmax_matches = 1\nfind_time = \"1m\"\n", `guard.rules[0].ban_time`},
		{"[[guard.rules]]\nname = \"x\"\nkinds = [\"sqli\"]\nactions = [\"banned\"]\nmax_matches = 1\nfind_time = \"1m\"\nban_time = \"1h\"\n", `guard.rules[0].actions[0]: rule "x": unknown action "banned"`},
		{"[guard.rate_limit]\nper_ip = 5\nper_ip_burst = 0\n", `guard.rate_limit.per_ip`},
		{"[guard.bans]\nincrement_factor = 0.5\n", `guard.bans.increment_factor`},
		{"[guard.scenarios.sensitive_files]\nmax = 0\n", `guard.scenarios.sensitive_files.max`},
		{"[guard.csrf]\ntrusted_origins = [\"admin.example.com\"]\n", `guard.csrf.trusted_origins[0]`},
	}
	for _, c := range cases {
		cfg := Default()
		err := Decode([]byte(c.toml), &cfg)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.toml, err, c.want)
		}
	}
}
