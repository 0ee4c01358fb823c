package waf

import (
	"slices"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
)

// The default engine compiles out the setup rules, the sampling switch and what it skips,
// and the `@lt 2` level switches with the rules they skip; it reports them as fired in the
// phase they belong to, seeds the levels, and watches the rules that can remove others.
func TestStaticPlanDefault(t *testing.T) {
	e, err := sharedEngine()
	if err != nil {
		t.Fatal(err)
	}
	p := e.static
	if p == nil {
		t.Fatal("no static plan on the default engine")
	}
	for _, id := range []int{900990, 900000, 900110, 901001, 901200, 901400, 901410, 901450, 901500, 920013, 920014, 942013, 942014, 942011, 949053} {
		if !slices.Contains(p.remove, id) {
			t.Errorf("%d not compiled out", id)
		}
	}
	for _, id := range []int{901340, 905100, 905110, 920100, 942100, 949052, 949059, 949060, 949110} {
		if slices.Contains(p.remove, id) {
			t.Errorf("%d compiled out: it depends on the request or on scores", id)
		}
	}
	if !slices.Contains(p.fired[0], 920013) || !slices.Contains(p.fired[1], 920014) || slices.Contains(p.fired[0], 920014) ||
		!slices.Contains(p.fired[0], 901400) || slices.Contains(p.fired[0], 901001) {
		t.Errorf("fired by phase: %v", p.fired)
	}
	if !p.guard[920013] || !p.guard[levelSetter] || !p.guard[901200] || p.guard[942100] {
		t.Errorf("guard %v", p.guard)
	}
	if !p.danger[905100] || !p.danger[905110] || len(p.danger) != 2 {
		t.Errorf("danger %v", p.danger)
	}
	seed := map[string]string{}
	for _, s := range p.seed {
		seed[s.key] = s.values[0]
	}
	if seed["detection_paranoia_level"] != "1" || seed["inbound_anomaly_score_threshold"] != "5" || seed["blocking_inbound_anomaly_score"] != "0" {
		t.Errorf("seed %v", seed)
	}
	// 905100's ctl is in its chained rule: the reader must have found it there
	tx, err := readSeclang(directives(DefaultSettings()), coreruleset.FS)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(tx.rules, func(r slRule) bool { return r.id == 905100 })
	if i < 0 || len(tx.rules[i].elems) != 2 || !strings.Contains(tx.rules[i].elems[1].raw, "ctl:ruleRemoveByTag") {
		t.Errorf("905100 read as %+v", tx.rules[i])
	}
}

// planOf reads a small rule set and plans it.
func planOf(t *testing.T, text string) (*staticPlan, error) {
	t.Helper()
	tx, err := readSeclang(text, coreruleset.FS)
	if err != nil {
		t.Fatal(err)
	}
	return planStatic(tx, DefaultSettings())
}

const (
	tinySetter = `SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=1,setvar:tx.detection_paranoia_level=1"` + "\n"
	tinyInit   = `SecRule &TX:reporting_level "@eq 0" "id:901111,phase:1,pass,nolog,setvar:'tx.reporting_level=4'"` + "\n"
	tinyP1     = `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:920013,phase:1,pass,nolog,skipAfter:END-920"` + "\n" +
		`SecRule REQUEST_HEADERS:Range "@rx ^bytes=" "id:920200,phase:1,block,t:none,msg:'Range',severity:'WARNING'"` + "\n"
	tinyP2 = `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:920014,phase:2,pass,nolog,skipAfter:END-920"` + "\n" +
		`SecRule ARGS "@rx %[0-9a-fA-F]{2}" "id:920230,phase:2,block,t:none,msg:'Multiple URL Encoding',severity:'WARNING'"` + "\n"
	tinyEnd = `SecMarker "END-920"` + "\n"
)

// Hostile shapes: whatever could make a compiled-out rule behave differently from the
// stock engine keeps it, or refuses the plan.
func TestStaticPlanRefuses(t *testing.T) {
	base := tinySetter + tinyInit + tinyP1 + tinyP2 + tinyEnd
	p, err := planOf(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.remove, []int{900000, 901111, 920013, 920014, 920200, 920230}) || !slices.Equal(p.fired[1], []int{920014}) {
		t.Fatalf("base plan: remove %v fired %v", p.remove, p.fired)
	}
	refused := map[string]string{
		"engine on":                 "SecRuleEngine On\n" + base,
		"rule removed by directive": base + "SecRuleRemoveById 920200\n",
		"actions updated":           base + `SecRuleUpdateActionById 920013 "pass"` + "\n",
		"reads rule.msg":            base + `SecAction "id:1003,phase:2,pass,nolog,setvar:tx.last=%{rule.msg}"` + "\n",
		"head reads MATCHED_VAR":    base + `SecRule MATCHED_VAR "@streq x" "id:1004,phase:2,pass,nolog"` + "\n",
		"skip reaches a switch": tinySetter + tinyInit + tinyP1 +
			`SecRule REQUEST_URI "@beginsWith /x" "id:1005,phase:2,pass,nolog,skip:1"` + "\n" + tinyP2 + tinyEnd,
		"ctl before the end of a chain": base + `SecRule REQUEST_URI "@beginsWith /x" "id:1006,phase:1,pass,nolog,ctl:ruleRemoveById=920013,chain"` + "\n" +
			`SecRule REQUEST_METHOD "@streq POST" "t:none"` + "\n",
		"logging phase":              base + "SecAuditEngine On\n",
		"no marker after the switch": tinyEnd + tinySetter + tinyInit + tinyP1 + tinyP2,
	}
	for name, text := range refused {
		s := DefaultSettings()
		if name == "logging phase" {
			s.Extra = text
		}
		tx, err := readSeclang(text, coreruleset.FS)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := planStatic(tx, s); err == nil {
			t.Errorf("%s: planned (remove %v)", name, p.remove)
		}
	}
	kept := []struct {
		name      string
		text      string
		keep      []int
		remove    []int
		dangerous []int
	}{
		{"a jump that may pass over the switch", tinySetter + tinyInit +
			`SecRule REQUEST_URI "@beginsWith /x" "id:1006,phase:2,pass,nolog,skipAfter:END-920"` + "\n" + tinyP1 + tinyP2 + tinyEnd,
			[]int{920014, 920230, 1006}, []int{920013, 920200}, nil},
		// before the setter the level is unset: the switch cannot match, and what it would skip runs
		{"switch before the setter", tinyP1 + tinySetter + tinyInit + tinyP2 + tinyEnd, []int{920200}, []int{920013, 920014}, nil},
		{"level unbounded", tinySetter + `SecAction "id:1007,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=+1"` + "\n" + tinyInit + tinyP1 + tinyP2 + tinyEnd,
			[]int{920013, 920014, 901111, 1007}, []int{900000}, nil},
		{"a request-dependent writer ends the constants", tinySetter +
			`SecRule REQUEST_URI "@beginsWith /x" "id:1008,phase:1,pass,nolog,setvar:tx.reporting_level=1"` + "\n" + tinyInit + tinyP1 + tinyP2 + tinyEnd,
			[]int{901111, 1008}, []int{900000, 920013, 920014}, nil},
		{"a constant rule that logs ends the constants", tinySetter +
			`SecRule TX:blocking_paranoia_level "@eq 1" "id:1009,phase:1,pass,log,msg:'level one'"` + "\n" + tinyInit + tinyP1 + tinyP2 + tinyEnd,
			[]int{1009, 901111}, []int{900000, 920013}, nil},
		{"a neutral rule stays between constants", tinySetter +
			`SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:1010,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"` + "\n" + tinyInit + tinyP1 + tinyP2 + tinyEnd,
			[]int{1010}, []int{900000, 901111, 920013}, nil},
		{"a rule reading TX between constants ends them", tinySetter +
			`SecRule REQUEST_URI "@contains %{tx.blocking_paranoia_level}" "id:1011,phase:1,pass,nolog"` + "\n" + tinyInit + tinyP1 + tinyP2 + tinyEnd,
			[]int{1011, 901111}, []int{900000, 920013}, nil},
		{"a removal by ctl is watched", tinySetter + tinyInit +
			`SecRule REMOTE_ADDR "@ipMatch 127.0.0.1" "id:1012,phase:1,pass,nolog,ctl:ruleRemoveByTag=OWASP_CRS"` + "\n" + tinyP1 + tinyP2 + tinyEnd,
			[]int{1012}, []int{900000, 901111, 920013, 920014}, []int{1012}},
	}
	for _, c := range kept {
		p, err := planOf(t, c.text)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if slices.ContainsFunc(slices.Concat(p.fired[0], p.fired[1]), func(id int) bool { return slices.Contains(c.keep, id) }) ||
			c.name == "switch before the setter" && slices.Contains(p.fired[0], 920013) {
			t.Errorf("%s: a kept or unmatched rule reported fired: %v", c.name, p.fired)
		}
		for _, id := range c.keep {
			if slices.Contains(p.remove, id) {
				t.Errorf("%s: %d compiled out (plan %v)", c.name, id, p.remove)
			}
		}
		for _, id := range c.remove {
			if !slices.Contains(p.remove, id) {
				t.Errorf("%s: %d kept (plan %v)", c.name, id, p.remove)
			}
		}
		for _, id := range c.dangerous {
			if !p.danger[id] {
				t.Errorf("%s: %d not watched", c.name, id)
			}
		}
	}
}

// Requests the plan does not cover go through the whole rule set: an exclusion of a level
// switch (which lets the next level's rules run), of the level setter, and a local health
// check that makes 905110 remove every CRS rule. The Result must be the stock engine's.
func TestStaticFallback(t *testing.T) {
	fast, err := sharedEngine()
	if err != nil {
		t.Fatal(err)
	}
	stock, err := stockPL1()
	if err != nil {
		t.Fatal(err)
	}
	pl2 := benignGET()
	pl2.URI = "/search?q=" + strings.Repeat("a'b", 12)
	health := &Request{RemoteAddr: "127.0.0.1:40000", Method: "GET", URI: "/", Proto: "HTTP/1.1", Host: "localhost",
		Headers: [][2]string{{"User-Agent", "Apache/2.4.62 (Debian) (internal dummy connection)"}}}
	cases := []struct {
		name string
		req  *Request
		excl []txExclusion
		want func(Result) bool
	}{
		{"switch excluded", pl2, []txExclusion{{RuleID: 942013}, {RuleID: 942014}}, func(r Result) bool {
			return !slices.Contains(r.fired, 942014) && slices.ContainsFunc(r.Matches, func(m Match) bool { return slices.Contains(m.Tags, "paranoia-level/2") })
		}},
		{"switch excluded for a parameter", pl2, []txExclusion{{RuleID: 920014, Target: "ARGS:q"}}, func(r Result) bool { return slices.Contains(r.fired, 920014) }},
		{"setter excluded", pl2, []txExclusion{{RuleID: levelSetter}}, func(r Result) bool { return !slices.Contains(r.fired, levelSetter) }},
		{"local health check", health, nil, func(r Result) bool {
			return slices.Contains(r.fired, 905110) && !slices.Contains(r.fired, 920013) && slices.Contains(r.fired, 901200)
		}},
		{"no exclusion", pl2, nil, func(r Result) bool { return slices.Contains(r.fired, 942014) && slices.Contains(r.fired, 901400) }},
	}
	for _, c := range cases {
		a, b := stock.Inspect(c.req, c.excl), fast.Inspect(c.req, c.excl)
		if !sameResult(a, b) && !stockCouldSay(stock, c.req, a, b) {
			t.Errorf("%s:\n stock %+v\n fast  %+v", c.name, a, b)
		}
		if !c.want(a) {
			t.Errorf("%s: the stock Result does not show what the case is about: %v", c.name, a.fired)
		}
	}
	if w, err := fast.fullWAF(); err != nil || w == fast.waf {
		t.Errorf("the fallback ran on the rule set the plan was taken out of (%v)", err)
	}
	if _, ok := fast.inspectStatic(health, nil); ok {
		t.Error("the plan covered a request where 905110 removed every CRS rule")
	}
	// A transaction that ends after phase 1 (a connector that stops on a body-limit
	// rejection) reports only phase 1's compiled-out ids.
	headersOnly := func(e *Engine, static bool) Result {
		tx := e.waf.NewTransaction()
		defer tx.Close()
		var also []int
		if static {
			e.static.seedTX(tx)
		}
		tx.ProcessConnection("192.0.2.10", 51234, "", 0)
		tx.ProcessURI(pl2.URI, "GET", "HTTP/1.1")
		tx.AddRequestHeader("Host", "shop.example.com")
		tx.ProcessRequestHeaders()
		if static {
			also = e.static.firedFor(tx)
		}
		return collect(tx, also)
	}
	a, b := headersOnly(stock, false), headersOnly(fast, true)
	if !sameResult(a, b) || !slices.Contains(a.fired, 920013) || slices.Contains(a.fired, 920014) {
		t.Errorf("phase 1 only:\n stock %v\n fast  %v", a.fired, b.fired)
	}
}

// Only the seeded TX values a rule left in the request phases can read are stored per
// transaction; every way of reading one keeps it.
func TestStaticSeedNeeded(t *testing.T) {
	base := tinySetter + tinyInit + tinyP1 + tinyP2 + tinyEnd
	cases := []struct {
		rule   string
		needed bool
	}{
		{`SecRule TX:/^report/ "@eq 4" "id:1020,phase:2,pass,log,msg:'r'"`, true},
		{`SecRule REQUEST_URI "@contains %{tx.reporting_level}" "id:1021,phase:2,pass,nolog"`, true},
		{`SecRule REQUEST_URI "@contains x" "id:1022,phase:2,pass,nolog,setvar:tx.reporting_level=+1"`, true},
		{`SecRule TX "@eq 4" "id:1023,phase:1,pass,nolog"`, true},
		{`SecRule &TX:Reporting_Level "@eq 1" "id:1024,phase:2,pass,nolog"`, true},
		{`SecRule REQUEST_URI "@contains x" "id:1025,phase:2,pass,nolog,msg:'level %{TX.REPORTING_LEVEL}'"`, true},
		{`SecRule REQUEST_URI "@contains x" "id:1026,phase:2,pass,nolog,setvar:tx.reporting_level=1"`, false},
		{`SecRule TX:reporting_level "@eq 4" "id:1027,phase:3,pass,nolog"`, false},
		{`SecRule ARGS|!TX:reporting_level "@eq 4" "id:1028,phase:2,pass,nolog"`, false},
	}
	for _, c := range cases {
		p, err := planOf(t, base+c.rule+"\n")
		if err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		got := slices.ContainsFunc(p.seedRead, func(s txSeed) bool { return s.key == "reporting_level" })
		if got != c.needed {
			t.Errorf("%s: reporting_level seeded %v, want %v", c.rule, got, c.needed)
		}
		if !slices.ContainsFunc(p.seedRead, func(s txSeed) bool { return s.key == "blocking_inbound_anomaly_score" }) &&
			slices.ContainsFunc(p.seed, func(s txSeed) bool { return s.key == "blocking_inbound_anomaly_score" }) {
			t.Errorf("%s: the score Inspect reads is not seeded", c.rule)
		}
	}
	e, err := sharedEngine()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range e.static.seedRead {
		keys = append(keys, s.key)
	}
	for _, k := range []string{"allowed_methods", "detection_paranoia_level", "blocking_paranoia_level", "inbound_anomaly_score_threshold", "inbound_anomaly_score_pl1", "critical_anomaly_score"} {
		if !slices.Contains(keys, k) {
			t.Errorf("default engine does not seed %s (seeds %v)", k, keys)
		}
	}
	t.Logf("default engine seeds %d of %d constant TX values: %v", len(keys), len(e.static.seed), keys)
}
