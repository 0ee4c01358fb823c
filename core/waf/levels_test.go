package waf

import (
	"slices"
	"testing"

	"github.com/corazawaf/coraza/v3/types"
)

// The level rules are removed only while every writer of the levels is bounded: a writer
// that could lower the level at run time, an increment, an unset, a writer before the
// setter, or a rule that could remove the setter keeps them all.
func TestNeverMatchingLevels(t *testing.T) {
	setter := textRule{id: 900000, raw: `SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=1,setvar:tx.detection_paranoia_level=1"`}
	guard := textRule{id: 901125, raw: `SecRule &TX:detection_paranoia_level "@eq 0" "id:901125,phase:1,pass,nolog,setvar:'tx.detection_paranoia_level=%{TX.blocking_paranoia_level}'"`}
	lt1 := textRule{id: 942011, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 1" "id:942011,phase:1,pass,nolog,skipAfter:END-942"`}
	lt2 := textRule{id: 942013, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:942013,phase:1,pass,nolog,skipAfter:END-942"`}
	ge2 := textRule{id: 949053, raw: `SecRule TX:BLOCKING_PARANOIA_LEVEL "@ge 2" "id:949053,phase:1,pass,t:none,nolog,setvar:'tx.blocking_inbound_anomaly_score=+%{tx.inbound_anomaly_score_pl2}'"`}
	ge1 := textRule{id: 949052, raw: `SecRule TX:BLOCKING_PARANOIA_LEVEL "@ge 1" "id:949052,phase:1,pass,t:none,nolog,setvar:'tx.blocking_inbound_anomaly_score=+%{tx.inbound_anomaly_score_pl1}'"`}
	chained := textRule{id: 942015, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 1" "id:942015,phase:1,pass,nolog,chain"`}
	extra := func(raw string) textRule { return textRule{id: 1001, raw: raw} }
	cases := []struct {
		name  string
		rules []types.RuleMetadata
		want  []int
	}{
		{"bounded", []types.RuleMetadata{setter, guard, lt1, lt2, ge1, ge2, chained}, []int{942011, 949053}},
		{"level 4 set later", []types.RuleMetadata{setter, extra(`SecAction "id:1001,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=4,setvar:tx.blocking_paranoia_level=4"`), lt1, lt2, ge2}, []int{942011}},
		{"conditional lowering", []types.RuleMetadata{setter, extra(`SecRule REQUEST_URI "@beginsWith /low" "id:1001,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=0"`), lt1, ge2}, []int{949053}},
		{"increment", []types.RuleMetadata{setter, extra(`SecAction "id:1001,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=+1"`), lt1, ge2}, nil},
		{"unset", []types.RuleMetadata{setter, extra(`SecAction "id:1001,phase:1,pass,nolog,setvar:!tx.blocking_paranoia_level"`), lt1, ge2}, nil},
		{"macro", []types.RuleMetadata{setter, extra(`SecAction "id:1001,phase:2,pass,nolog,setvar:tx.blocking_paranoia_level=%{tx.x}"`), lt1, ge2}, nil},
		{"writer before setter", []types.RuleMetadata{extra(`SecAction "id:1001,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=0"`), setter, lt1, ge2}, nil},
		{"setter removable", []types.RuleMetadata{extra(`SecAction "id:1001,phase:1,pass,nolog,ctl:ruleRemoveById=900000"`), setter, lt1, ge2}, nil},
		{"no setter", []types.RuleMetadata{guard, lt1, ge2}, nil},
	}
	for _, c := range cases {
		if got := neverMatching(c.rules); !slices.Equal(got, c.want) {
			t.Errorf("%s: removed %v, want %v", c.name, got, c.want)
		}
	}
	if !removesSetter([]txExclusion{{RuleID: levelSetter}}) || removesSetter([]txExclusion{{RuleID: levelSetter, Target: "ARGS:x"}, {RuleID: 942100}}) {
		t.Error("an exclusion of the setter must void the proof, and only that one")
	}
}

// Hostile: a site rule that lowers the detection level for one path must keep the level
// rules, and the fast engine must then fire exactly what the stock engine fires there.
func TestLevelRulesWithSiteLowering(t *testing.T) {
	s := DefaultSettings()
	s.Extra = `SecRule REQUEST_URI "@beginsWith /low" "id:1001,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=0"`
	fast, err := NewEngine(s)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(fast.gate.never, 942011) {
		t.Fatal("942011 removed although the level can be 0")
	}
	s.Stock = true
	stock, err := NewEngine(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"/low/x?id=1' or '1'='1", "/high?id=1' or '1'='1"} {
		req := benignGET()
		req.URI = uri
		a, b := stock.Inspect(req, nil).FiredIDs(), fast.Inspect(req, nil).FiredIDs()
		if !slices.Equal(a, b) {
			t.Errorf("%s: stock fired %v, fast %v", uri, a, b)
		}
		if uri[1] == 'l' && !slices.Contains(a, 942011) {
			t.Errorf("%s: the lowered level should make 942011 fire (fired %v)", uri, a)
		}
	}
	def, err := SharedEngine(DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(def.gate.never, 942011) || !slices.Contains(def.gate.never, 949053) {
		t.Errorf("default PL1 engine should remove 942011 and 949053, removes %v", def.gate.never)
	}
}

// The logging phase is left out only while nothing can observe it: Extra that mentions the
// audit log in any spelling brings it back.
func TestLoggingPhaseOnlyWhenAudited(t *testing.T) {
	s := DefaultSettings()
	if audits(s) {
		t.Error("default settings run the logging phase")
	}
	for _, x := range []string{"SecAuditEngine On", "secauditengine RelevantOnly", `SecAction "id:1,phase:1,pass,nolog,ctl:auditEngine=On"`} {
		s.Extra = x
		if !audits(s) {
			t.Errorf("%q: logging phase left out", x)
		}
	}
}
