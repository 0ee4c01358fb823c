package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const full = `{
  "name": "shop",
  "entry": "./src/index.ts",
  "routes": ["shop.example.com/*", {"path": "/api/*"}, {"host": "*.shop.example.com", "path": "/x"}],
  "limits": {"memory_mb": 256, "cpu_ms": 100, "workers": 2},
  "permissions": {"fetch": ["API.Stripe.com", "hooks.example.com:8443", "a.example.org:443"], "kv": {"quota_bytes": 1048576}},
  "env": {"MODE": "prod", "STRIPE_KEY": {"secret": "stripe_live"}},
  "schedules": [{"name": "nightly", "cron": "30 2 * * MON-FRI"}, {"cron": "@hourly"}],
  "security": {"waf": "detect", "csrf": "on", "sanitize": "ugc", "headers": "strict", "exempt_cookies": ["__stripe_mid"]}
}`

func TestParseFull(t *testing.T) {
	m, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if m.Entry != "src/index.ts" {
		t.Errorf("entry = %q", m.Entry)
	}
	if m.Limits.MemoryMB != 256 || m.Limits.CPUMs != 100 || m.Limits.WallMs != Defaults().WallMs {
		t.Errorf("limits = %+v", m.Limits)
	}
	if m.Limits.KVQuotaBytes != 1048576 {
		t.Errorf("kv quota = %d", m.Limits.KVQuotaBytes)
	}
	want := []string{"api.stripe.com", "hooks.example.com:8443", "a.example.org"}
	for i, h := range want {
		if m.Permissions.Fetch[i] != h {
			t.Errorf("fetch[%d] = %q, want %q", i, m.Permissions.Fetch[i], h)
		}
	}
	if !m.Env["STRIPE_KEY"].IsSecret() || m.Env["STRIPE_KEY"].Secret != "stripe_live" || m.Env["MODE"].Value != "prod" {
		t.Errorf("env = %+v", m.Env)
	}
	if m.Routes[0].Host != "shop.example.com" || m.Routes[0].Path != "/*" || m.Routes[1].Host != "" {
		t.Errorf("routes = %+v", m.Routes)
	}
	if m.Schedules[1].Name != "@hourly" || m.Schedules[0].Parsed() == nil {
		t.Errorf("schedules = %+v", m.Schedules)
	}
}

func TestDefaultsWithoutKV(t *testing.T) {
	m, err := Parse([]byte(`{"name":"a","entry":"index.js","routes":["/"]}`))
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	d.KVQuotaBytes = 0
	if m.Limits != d {
		t.Errorf("limits = %+v, want %+v", m.Limits, d)
	}
}

func TestDecodeErrorsNameFieldAndPosition(t *testing.T) {
	cases := []struct {
		name, doc, field, msg string
		line                  int
	}{
		{"unknown top", `{"name":"a",
 "entyr":"x"}`, "entyr", `unknown field "entyr"`, 2},
		{"unknown nested", `{"name":"a","entry":"a.js","limits":{
  "cpu_ms": 5,
  "cpu": 5}}`, "limits.cpu", `unknown field "cpu" in limits`, 3},
		{"unknown in array object", `{"routes":[{"path":"/"},{"paht":"/x"}]}`, "routes[1].paht", "unknown field", 1},
		{"unknown in env object", `{"env":{"A":{"secret":"x","sekret":"y"}}}`, "env.A.sekret", "unknown field", 1},
		{"unknown in kv", `{"permissions":{"kv":{"quota":1}}}`, "permissions.kv.quota", "unknown field", 1},
		{"wrong type", `{"limits":{"cpu_ms":"fast"}}`, "limits.cpu_ms", "must be a whole number", 1},
		{"fraction", `{"limits":{"cpu_ms":1.5}}`, "limits.cpu_ms", "whole number", 1},
		{"huge", `{"limits":{"cpu_ms":1e40}}`, "limits.cpu_ms", "out of range", 1},
		{"string for array", `{"permissions":{"fetch":"a.com"}}`, "permissions.fetch", "must be an array", 1},
		{"duplicate", `{"name":"a","name":"b"}`, "name", "duplicate", 1},
		{"syntax", "{\"name\":\"a\",\n\n \"entry\" \"x\"}", "entry", "invalid JSON", 3},
		{"truncated", `{"name":"a"`, "", "unexpected end", 1},
		{"trailing", `{"name":"a"} {}`, "", "unexpected data", 1},
		{"not object", `[1]`, "", "must be an object", 1},
		{"env number", `{"env":{"A":1}}`, "env.A", "string or an object", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.Field != c.field || !strings.Contains(e.Msg, c.msg) || e.Line != c.line {
				t.Errorf("got field=%q line=%d msg=%q; want field=%q line=%d msg~%q", e.Field, e.Line, e.Msg, c.field, c.line, c.msg)
			}
		})
	}
}

func TestDeepNestingRefused(t *testing.T) {
	doc := `{"name":"a","routes":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	_, err := Parse([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidationErrorsNameEveryField(t *testing.T) {
	doc := `{
  "name": "Bad Name",
  "entry": "../outside.js",
  "routes": [{"host": "127.0.0.1"}, {"path": "api"}, {}, {"path": "/a*b"}],
  "limits": {"memory_mb": 999999, "cpu_ms": -1, "workers": 17},
  "permissions": {
    "fetch": ["https://x.com", "user@x.com", "10.0.0.1", "*.x.com", "x.com.", "bücher.de", "x.com:99999", "0x7f.1", "intranet"],
    "kv": {"quota_bytes": 99999999999}
  },
  "env": {"KV": "x", "1BAD": "y", "S": {"secret": "a b"}, "B": {"secret": "x", "value": "y"}},
  "schedules": [{"cron": "61 * * * *"}, {"cron": "* * *"}, {"cron": "0 0 31 2 *"}, {}],
  "security": {"waf": "maybe", "csrf": "yes", "sanitize": "all", "headers": "loose", "exempt_cookies": ["a b"]}
}`
	_, err := Parse([]byte(doc))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	want := []string{"name", "entry", "routes[0].host", "routes[1].path", "routes[2]", "routes[3].path",
		"limits.memory_mb", "limits.cpu_ms", "limits.workers",
		"permissions.fetch[0]", "permissions.fetch[1]", "permissions.fetch[2]", "permissions.fetch[3]",
		"permissions.fetch[4]", "permissions.fetch[5]", "permissions.fetch[6]", "permissions.fetch[7]", "permissions.fetch[8]",
		"permissions.kv.quota_bytes", "env.1BAD", "env.B", "env.KV", "env.S.secret",
		"schedules[0].cron", "schedules[1].cron", "schedules[2].cron", "schedules[3].cron",
		"security.waf", "security.csrf", "security.sanitize", "security.headers", "security.exempt_cookies[0]"}
	got := Fields(err)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields:\n got %v\nwant %v\n%v", got, want, err)
	}
	for _, e := range es {
		if e.Line == 0 {
			t.Errorf("%s has no line", e.Field)
		}
	}
	if es[0].Line != 2 || es[6].Line != 5 {
		t.Errorf("lines: name at %d, memory_mb at %d", es[0].Line, es[6].Line)
	}
}

func TestMissingRequired(t *testing.T) {
	_, err := Parse([]byte(`{}`))
	if got := strings.Join(Fields(err), ","); got != "name,entry" {
		t.Errorf("fields = %s (%v)", got, err)
	}
}

func TestLoadAndSizeCap(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil {
		t.Fatal("missing app.json accepted")
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte(`{"name":"x","entry":"a.js"}`+strings.Repeat(" ", MaxFileBytes)), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversize: %v", err)
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte(`{"name":"x","entry":"a.js"}`), 0o600)
	if m, err := Load(dir); err != nil || m.Name != "x" {
		t.Fatalf("load: %v", err)
	}
}

func TestRouteMatch(t *testing.T) {
	cases := []struct {
		r          Route
		host, path string
		want       bool
	}{
		{Route{Host: "a.com"}, "A.COM.:8443", "/x", true},
		{Route{Host: "a.com"}, "b.a.com", "/", false},
		{Route{Host: "*.a.com"}, "b.a.com", "/", true},
		{Route{Host: "*.a.com"}, "a.com", "/", false},
		{Route{Host: "*.a.com"}, "evila.com", "/", false},
		{Route{Path: "/api/*"}, "x", "/api", true},
		{Route{Path: "/api/*"}, "x", "/api/v1", true},
		{Route{Path: "/api/*"}, "x", "/apix", false},
		{Route{Path: "/exact"}, "x", "/exact/", false},
		{Route{Path: "/*"}, "x", "/anything", true},
	}
	for _, c := range cases {
		if got := c.r.Match(c.host, c.path); got != c.want {
			t.Errorf("%v.Match(%q,%q) = %v", c.r, c.host, c.path, got)
		}
	}
	if (Route{Host: "a.com", Path: "/x"}).Specificity() <= (Route{Host: "*.a.com", Path: "/xyz/long"}).Specificity() {
		t.Error("exact host should outrank wildcard host")
	}
	if (Route{Path: "/api"}).Specificity() <= (Route{Path: "/api/*"}).Specificity() {
		t.Error("exact path should outrank prefix of same length")
	}
}

func TestOverride(t *testing.T) {
	l := Defaults()
	o, err := l.Override(Limits{CPUMs: 200})
	if err != nil || o.CPUMs != 200 || o.WallMs != l.WallMs {
		t.Fatalf("override: %+v %v", o, err)
	}
	if _, err := l.Override(Limits{Workers: 100}); err == nil || Fields(err)[0] != "limits.workers" {
		t.Fatalf("ceiling not enforced: %v", err)
	}
}

func TestCron(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct{ expr, from, next string }{
		{"*/15 * * * *", "2026-01-01 10:07", "2026-01-01 10:15"},
		{"*/15 * * * *", "2026-01-01 10:50", "2026-01-01 11:00"},
		{"30 2 * * MON-FRI", "2026-11-21 00:00", "2026-11-23 02:30"}, // Saturday -> Monday
		{"0 0 1 * *", "2026-01-31 12:00", "2026-02-01 00:00"},
		{"0 12 * * 7", "2026-11-21 00:00", "2026-11-22 12:00"}, // 7 = Sunday
		{"0 0 13 * 5", "2026-11-01 00:00", "2026-11-06 00:00"}, // Friday OR the 13th
		{"0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"},
		{"5,10 1-2 * jan,Dec *", "2026-06-01 00:00", "2026-12-01 01:05"},
		{"@daily", "2026-01-01 00:00", "2026-01-02 00:00"},
	}
	for _, c := range cases {
		cr, err := ParseCron(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := cr.Next(at(c.from)); !got.Equal(at(c.next)) {
			t.Errorf("%s from %s: got %s, want %s", c.expr, c.from, got.Format("2006-01-02 15:04"), c.next)
		}
		if !cr.Matches(at(c.next)) {
			t.Errorf("%s: Matches(%s) false", c.expr, c.next)
		}
	}
	for _, bad := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "0 0 30 2 *", "1,,2 * * * *", "@reboot"} {
		if _, err := ParseCron(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRoundTrip: core/apps stores a parsed manifest as JSON and parses it back.
func TestRoundTrip(t *testing.T) {
	m, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Parse(b)
	if err != nil {
		t.Fatalf("re-parse %s: %v", b, err)
	}
	b2, _ := json.Marshal(m2)
	if string(b) != string(b2) || m2.Limits != m.Limits || m2.Schedules[0].Parsed() == nil {
		t.Errorf("round trip changed the manifest:\n%s\n%s", b, b2)
	}
}
