package waf

// Quiet rules: a rule that matches on nearly every request and whose match changes nothing a
// Result shows except its own id among the fired ones. CRS's 941010 is one:
//
//	SecRule REQUEST_FILENAME "!@validateByteRange 20,45-47,48-57,65-90,95,97-122"
//	    "id:941010,phase:1,pass,t:none,nolog,tag:...,ctl:ruleRemoveTargetByTag=xss-perf-disable;REQUEST_FILENAME,ver:..."
//
// On a plain path it takes REQUEST_FILENAME away from the XSS rules tagged xss-perf-disable.
// Coraza runs that ctl by walking every compiled rule's tags. Measured on the benign GET
// (leave-one-out, thread CPU, medians of 40 interleaved rounds): 33 µs of about 295.
//
// Here the engine evaluates such a rule itself, removes it from the transaction, and when
// it matches does what its match does: the same RemoveRuleTargetByID call for every rule
// that carries the tag, and its id among the fired ones. That is the whole effect because
// of what is accepted, mechanically, when the engine is built (planQuiet):
//   - the only variable is REQUEST_FILENAME, whose one value ProcessURI computes from the
//     request target alone (filename below does it the same way), with t:none, so the value
//     is exact; the operator is validateByteRange, negated or not, whose loop is copied;
//   - the actions are id, phase, pass, t:none, nolog, noauditlog, tag, ver and one
//     ctl:ruleRemoveTargetByTag=<tag>;REQUEST_FILENAME: no msg (collect leaves rules
//     without one out of Matches), no logdata, severity, capture, setvar, skip or chain;
//   - every rule carrying the tag runs after it (a later position in its phase, or a later
//     phase), so removing the target at the start of the transaction is removing it before
//     any of them runs;
//   - no rule left in the compiled set can keep it from running: no skip, skipAfter or allow
//     before it in its phase (compiled-out rules do not run), no SecRuleUpdateTargetById on
//     it; a rule removal by ctl sends the request to the full rule set (static plan's
//     danger), and an exclusion naming it leaves it to Coraza (apply).
//
// It is used only with the static plan (inspectStatic), whose global conditions also hold
// here: no rule reads the RULE collection or an earlier rule's MATCHED_VAR(S).

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// quietRule is one accepted rule.
type quietRule struct {
	id      int
	phase   types.RulePhase
	negated bool
	valid   [256]bool // validateByteRange's bytes
	tagged  []int     // compiled-in rules carrying the ctl's tag
}

// planQuiet finds the quiet rules of the rule text t compiled without the ids in out.
func planQuiet(t *slText, out map[int]bool) []quietRule {
	updated := map[int]bool{}
	for _, d := range t.other {
		if d.name == "secruleupdatetargetbyid" {
			for _, f := range strings.Fields(d.opts) {
				if n, err := strconv.Atoi(f); err == nil {
					updated[n] = true
				}
			}
		}
	}
	var q []quietRule
	for i := range t.rules {
		r := &t.rules[i]
		if r.marker != "" || out[r.id] || updated[r.id] {
			continue
		}
		qr, tag, ok := quietShape(r)
		if !ok || !runsFrom(t, i, out) {
			continue
		}
		for j := range t.rules {
			o := &t.rules[j]
			if o.marker != "" || out[o.id] || !carries(o, tag) {
				continue
			}
			if o.phase < r.phase || o.phase == r.phase && j < i {
				ok = false // would run before the ctl
				break
			}
			qr.tagged = append(qr.tagged, o.id)
		}
		if ok {
			q = append(q, qr)
		}
	}
	return q
}

// quietShape accepts a rule of the shape described at the top of this file and returns its
// tag.
func quietShape(r *slRule) (quietRule, string, bool) {
	qr := quietRule{id: r.id, phase: types.RulePhase(r.phase)}
	if len(r.elems) != 1 || r.phase < 1 || r.phase > 2 {
		return qr, "", false
	}
	e := &r.elems[0]
	if e.directive != "secrule" || !strings.EqualFold(strings.TrimSpace(e.vars), "REQUEST_FILENAME") {
		return qr, "", false
	}
	op := strings.TrimSpace(e.op)
	op, qr.negated = strings.CutPrefix(op, "!")
	arg, ok := strings.CutPrefix(op, "@validateByteRange ")
	if !ok || !byteRange(arg, &qr.valid) {
		return qr, "", false
	}
	tag := ""
	for _, a := range e.acts {
		switch a.name {
		case "id", "phase", "pass", "nolog", "noauditlog", "tag", "ver":
		case "t":
			if !strings.EqualFold(a.arg, "none") {
				return qr, "", false
			}
		case "ctl":
			v, ok := strings.CutPrefix(a.arg, "ruleRemoveTargetByTag=")
			name, col, ok2 := strings.Cut(v, ";")
			if !ok || !ok2 || tag != "" || name == "" || !strings.EqualFold(strings.TrimSpace(col), "REQUEST_FILENAME") {
				return qr, "", false
			}
			tag = name
		default:
			return qr, "", false
		}
	}
	return qr, tag, tag != ""
}

// byteRange parses validateByteRange's argument as Coraza does; false on anything it would
// refuse or read differently.
func byteRange(arg string, valid *[256]bool) bool {
	if strings.TrimSpace(arg) == "" {
		return false // Coraza: an unconditional match
	}
	for _, br := range strings.Split(arg, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(br), "-")
		s, err := strconv.Atoi(lo)
		if err != nil || s < 0 || s > 255 {
			return false
		}
		e := s
		if isRange {
			if e, err = strconv.Atoi(hi); err != nil || e < 0 || e > 255 {
				return false
			}
		}
		for b := s; b <= e; b++ {
			valid[b] = true
		}
	}
	return true
}

// carries reports whether r has tag among its tag actions.
func carries(r *slRule, tag string) bool {
	for _, a := range r.elems[0].acts {
		if a.name == "tag" && a.arg == tag {
			return true
		}
	}
	return false
}

// runsFrom: no compiled-in rule before rules[i] in its phase can jump over it or stop the
// phase: no skip:N or allow, and every skipAfter lands on a marker before it (Coraza skips
// to the first rule after the jump carrying the marker's name).
func runsFrom(t *slText, i int, out map[int]bool) bool {
	for j := 0; j < i; j++ {
		o := &t.rules[j]
		if o.marker != "" || out[o.id] || o.phase != t.rules[i].phase {
			continue
		}
		for _, e := range o.elems {
			for _, a := range e.acts {
				switch a.name {
				case "skip", "allow":
					return false
				case "skipafter":
					if !markerBetween(t, j, i, a.arg) {
						return false
					}
				}
			}
		}
	}
	return true
}

// markerBetween: a SecMarker named name stands after rules[j] and before rules[i].
func markerBetween(t *slText, j, i int, name string) bool {
	for k := j + 1; k < i; k++ {
		if t.rules[k].marker == name {
			return true
		}
	}
	return false
}

// filename is REQUEST_FILENAME as Coraza's ProcessURI computes it from the request target.
func filename(uri string) string {
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	if u, err := url.ParseRequestURI(uri); err == nil {
		return u.Path
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// matches is the rule's operator on REQUEST_FILENAME, as validateByteRange evaluates it.
func (q *quietRule) matches(path string) bool {
	out := false // an empty value is not out of range
	for i := 0; i < len(path); i++ {
		if !q.valid[path[i]] {
			out = true
			break
		}
	}
	return out != q.negated
}

// applyQuiet takes the quiet rules out of tx and does what their matches do; it returns
// the ids that matched (each fired if its phase runs). Rules an exclusion names are left to
// Coraza.
func applyQuiet(q []quietRule, tx types.Transaction, uri string, excl []txExclusion) []quietRule {
	rm, ok := tx.(txRemover)
	if !ok || len(q) == 0 {
		return nil
	}
	var fired []quietRule
	path, pathDone := "", false
next:
	for i := range q {
		for _, x := range excl {
			if x.RuleID == q[i].id {
				continue next
			}
		}
		if !pathDone {
			path, pathDone = filename(uri), true
		}
		rm.RemoveRuleByID(q[i].id)
		if q[i].matches(path) {
			for _, id := range q[i].tagged {
				rm.RemoveRuleTargetByID(id, variables.RequestFilename, "", nil)
			}
			fired = append(fired, q[i])
		}
	}
	return fired
}
