package config

import (
	"errors"
	"testing"
)

func TestWAFSectionValidation(t *testing.T) {
	cases := []struct {
		toml, field string
	}{
		{"[waf]\nmode = \"sometimes\"\n", "waf.mode"},
		{"[waf]\nparanoia = 5\n", "waf.paranoia"},
		{"[waf]\ninbound_threshold = 0\n", "waf.inbound_threshold"},
		{"[waf]\nbody_limit = 10\n", "waf.body_limit"},
		{"[[waf.paths]]\nprefix = \"admin\"\nmode = \"off\"\n", "waf.paths[0].prefix"},
		{"[[waf.paths]]\nprefix = \"/admin\"\nmode = \"never\"\n", "waf.paths[0].mode"},
		{"[[waf.exclusions]]\nrules = []\n", "waf.exclusions[0].rules"},
		{"[[waf.exclusions]]\nrules = [942100]\ntarget = \"ARGS\"\n", "waf.exclusions[0].target"},
		{"[[waf.exclusions]]\nrules = [942100]\ntarget = \"BODY:x\"\n", "waf.exclusions[0].target"},
		{"[[waf.exclusions]]\nrules = [1000000]\n", "waf.exclusions[0].rules"},
	}
	for _, tc := range cases {
		c := Default()
		if err := Decode([]byte(tc.toml), &c); err != nil {
			t.Fatalf("%q: decode: %v", tc.toml, err)
		}
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Fatalf("%q: got %v, want an error naming %s", tc.toml, err, tc.field)
		}
	}
	c := Default()
	ok := "[waf]\nmode = \"detect\"\nparanoia = 2\n[[waf.paths]]\napp = \"blog\"\nmode = \"block\"\n[[waf.exclusions]]\napp = \"blog\"\nprefix = \"/posts\"\nrules = [941100]\ntarget = \"ARGS:body\"\n"
	if err := Decode([]byte(ok), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.WAF.Paranoia != 2 || len(c.WAF.Exclusions) != 1 || c.WAF.Exclusions[0].Target != "ARGS:body" {
		t.Fatalf("decoded %+v", c.WAF)
	}
}
