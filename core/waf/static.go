package waf

// Bookkeeping fixed by the settings, taken out of Coraza when the engine is compiled.
//
// On a benign request Coraza runs about 40 CRS rules whose outcome does not depend on the
// request: the setup rules that store constants in TX (900990, 900000, 900110, 901xxx),
// the sampling switch 901400, and in every rule file a `TX:DETECTION_PARANOIA_LEVEL "@lt N"`
// rule per phase that jumps over the rules of the levels above the configured one (at PL1
// every `@lt 2` rule, 920013, 920014, ...). Each costs 2-4 µs in Coraza. The fast engine is
// compiled without them (SecRuleRemoveById appended to the directives), and Inspect puts
// back what they did: the TX values they store (seeded into the transaction before it
// starts) and their ids among the fired ones, for each phase that ran. Along with them go,
// free, the paranoia-level rules that can never match (levels.go), which were removed per
// transaction before, and the rules the removed jumps skip. Measured (BenchmarkWAFBookkeeping,
// benign GET, CPU of a transaction keeping only the bookkeeping rules less an empty one):
// 108-192 µs before, 16-32 µs after, on a machine loaded ~7 on 2 cores; what is left is
// 901340, 941010, the 949 score sums and the seed.
//
// The proofs (planStatic), over the rules as Coraza compiled them (seclang.go), in the order
// and under the semantics of Coraza 3.8.1's RuleGroup.Eval: per rule, the phase filter,
// then the per-transaction removal check, then the SkipAfter/marker check, then skip:N;
// the engine runs DetectionOnly, so a disruptive action never stops the loop and allow is
// not enforced (every rule of a phase that runs is reached unless removed or jumped over).
//
//   - Constant prefix (C). Phase 1 is walked from its first rule with an interpreter of TX
//     state. A rule that reads only TX:x or &TX:x with a numeric comparison (@eq/@lt/@le/
//     @gt/@ge, literal or %{tx.y}), or a SecAction, has the same outcome on every request
//     because everything before it has; if it matches it may only store constants
//     (setvar:tx.k=v without macros or arithmetic) and jump (skipAfter), nothing that is
//     logged, scored or captured. The rules a constant jump skips (901410, 901450 after
//     901400) are never evaluated. Rules between them that are left in place must neither
//     read nor write TX nor change the flow (no setvar, capture, skip, ctl other than the
//     body processor, no %{tx.} macro): they run the same way whether TX already holds
//     the constants (lean engine, seeded) or only part of them (stock). The walk stops at
//     the first other rule (905100). At that point the stock transaction's TX is the
//     interpreter's state, and the removed rules that matched are known: the seed and the
//     phase-1 fired ids. A template transaction run by Coraza itself over exactly these
//     rules must give the same TX and fired ids, or no plan is made.
//   - Always-matching level rules (X). A `TX:DETECTION_PARANOIA_LEVEL "@lt N"` rule whose
//     every possible value is below N (levels.go bounds them; symmetric to the never-
//     matching proof) matches whenever it is evaluated; with only pass, nolog, tags and
//     skipAfter it changes nothing but the fired ids and the jump. It is evaluated
//     whenever its phase runs if nothing can remove it (an exclusion naming it falls back,
//     ctl removals are watched, below) and no jump can pass over it: every skipAfter rule
//     before it in its phase whose marker is not reached before it must be one that cannot
//     match, and no skip:N may reach it. Its jump ends at the first marker of that name
//     after it (required to exist); the rules of its phase in between are never evaluated
//     and leave with it.
//   - Never-matching level rules (levels.go) have no effect when evaluated.
//   - Removing a rule at compile time is, for RuleGroup.Eval, the same as removing it per
//     transaction: a removed rule is passed over before the skip counter and the marker
//     check; markers are never removed. A skip:N counts the rules it passes, so no removed
//     rule may be within the reach of one.
//   - What else a removed rule could leave behind and who could see it: MATCHED_VAR(S)
//     and MATCHED_VAR_NAME(S) of the last match (no rule that starts a chain reads them,
//     or has them in its operator); the RULE collection's msg and logdata of the last
//     evaluated rule (no rule reads rule.msg, rule.logdata or RULE); HIGHEST_SEVERITY (no
//     removed rule that matches has a severity); captures (none capture); the audit flag
//     (the plan is off when the logging phase runs, Engine.audits).
//
// Per request, the plan holds unless (then Inspect runs the full rule set as before):
// an exclusion names one of the removed rules that matches (guard: the setup rules, the
// level switches, the level setter), or a rule that can remove rules or turn the engine
// on or off (ctl:ruleRemoveById/ByTag/ByMsg, ctl:ruleEngine, ctl:ruleRemoveTarget* on TX)
// matched (danger: 905100 and 905110, for local "GET /" health checks). Such a ctl can only
// have run if its rule matched: it must sit in the last rule of its chain, whose actions
// run only when the whole chain matches, which is when Coraza records the rule as fired;
// otherwise there is no plan. Any directive other than those the engine writes and CRS
// uses, another rule engine mode, or a rule changed after it was added
// (SecRuleUpdateTargetById on a rule the proofs read) also means no plan.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// staticPlan is what the engine's settings fix.
type staticPlan struct {
	remove []int    // compiled out: C, X, the rules their jumps skip, never-matching level rules
	seed   []txSeed // TX after the constant prefix
	// seedRead: the part of seed a rule left in place can read; only it is stored in each
	// transaction
	seedRead []txSeed
	fired    [2][]int // removed rules that match whenever phase 1 / phase 2 runs
	guard    map[int]bool
	danger   map[int]bool
	prefix   map[int]bool      // the constant rules and the rules their jumps skip (checkSeed)
	sorted   [2][]int          // fired ids when phase 1 ran, when phases 1 and 2 ran: sorted, unique
	needed   func(string) bool // a TX value a rule left in place can read (neededTX)
	// counts for tests and the benchmark
	constants, switches, skipped, never int
}

type txSeed struct {
	key    string
	values []string
}

// guarded: an exclusion touches a rule the plan assumes runs.
func (p *staticPlan) guarded(excl []txExclusion) bool {
	for _, x := range excl {
		if p.guard[x.RuleID] {
			return true
		}
	}
	return false
}

// directives the engine and CRS write; anything else could change rules the proofs read.
var staticDirectives = map[string]bool{
	"secrequestbodyaccess": true, "secrequestbodylimit": true, "secrequestbodyinmemorylimit": true,
	"secrequestbodylimitaction": true, "secrequestbodyjsondepthlimit": true, "secargumentslimit": true,
	"secresponsebodyaccess": true, "secauditengine": true, "seccomponentsignature": true,
}

var (
	txOnlyVar   = regexp.MustCompile(`^(&?)(?i:tx):([A-Za-z0-9_]+)$`)
	cmpOp       = regexp.MustCompile(`^(!?)@(eq|lt|le|gt|ge) (?:([0-9]+)|%\{(?i:tx)\.([A-Za-z0-9_]+)\})$`)
	constSetvar = regexp.MustCompile(`^(?i:tx)\.([A-Za-z0-9_]+)=([^%+\-][^%]*)?$`)
	skipN       = regexp.MustCompile(`^[0-9]+$`)
	digits      = regexp.MustCompile(`^[0-9]+$`)
	txMacro     = regexp.MustCompile(`(?i)%\{tx\.`)
	readsTX     = regexp.MustCompile(`(?i)^[!&]*tx(:|$)`)
)

// transformations that leave a string of ASCII digits as it is
var digitSafe = map[string]bool{"none": true, "urldecodeuni": true, "urldecode": true, "lowercase": true,
	"trim": true, "trimleft": true, "trimright": true, "compresswhitespace": true, "removenulls": true}

// actions a matching constant rule may have: none logs, scores, captures or changes flow
// beyond skipAfter
var constFiring = map[string]bool{"id": true, "phase": true, "pass": true, "t": true, "nolog": true,
	"noauditlog": true, "tag": true, "ver": true, "rev": true, "maturity": true, "accuracy": true,
	"setvar": true, "skipafter": true}

// actions of a level switch (X)
var switchActs = map[string]bool{"id": true, "phase": true, "pass": true, "nolog": true, "noauditlog": true,
	"tag": true, "ver": true, "rev": true, "maturity": true, "accuracy": true, "skipafter": true}

// actions a rule left between constant rules may have
var neutralActs = map[string]bool{"id": true, "phase": true, "pass": true, "block": true, "deny": true,
	"status": true, "t": true, "log": true, "nolog": true, "auditlog": true, "noauditlog": true, "msg": true,
	"logdata": true, "tag": true, "ver": true, "rev": true, "severity": true, "maturity": true,
	"accuracy": true, "chain": true, "ctl": true}

// planStatic makes the plan for rules read from the engine's directives, or says why not.
func planStatic(t *slText, s Settings) (*staticPlan, error) {
	if audits(s) {
		return nil, fmt.Errorf("the logging phase runs")
	}
	modified := map[int]bool{}
	for _, d := range t.other {
		switch {
		case staticDirectives[d.name]:
		case d.name == "secruleengine" && strings.EqualFold(d.opts, "DetectionOnly"):
		case d.name == "secdefaultaction" && (d.opts == "phase:1,log,auditlog,pass" || d.opts == "phase:2,log,auditlog,pass"):
		case d.name == "secruleupdatetargetbyid":
			for _, f := range strings.Fields(d.opts) {
				if n, err := strconv.Atoi(f); err == nil {
					modified[n] = true
				}
			}
		default:
			return nil, fmt.Errorf("directive %s %q", d.name, d.opts)
		}
	}
	rules := t.rules
	// global conditions: nobody reads what a removed rule leaves behind
	for _, r := range rules {
		lt := strings.ToLower(r.text())
		if strings.Contains(lt, "rule.msg") || strings.Contains(lt, "rule.logdata") || strings.Contains(lt, "%{rule}") {
			return nil, fmt.Errorf("rule %d reads the RULE collection", r.id)
		}
		for k, e := range r.elems {
			for _, v := range strings.Split(e.vars, "|") {
				v = strings.ToLower(strings.TrimLeft(v, "!&"))
				if strings.HasPrefix(v, "rule") || k == 0 && strings.HasPrefix(v, "matched_var") {
					return nil, fmt.Errorf("rule %d reads %s of earlier rules", r.id, v)
				}
			}
		}
		if r.marker == "" && strings.Contains(strings.ToLower(r.elems[0].op), "%{matched_var") {
			return nil, fmt.Errorf("rule %d's operator reads earlier matches", r.id)
		}
	}
	p := &staticPlan{guard: map[int]bool{levelSetter: true}, danger: map[int]bool{}, prefix: map[int]bool{}}
	out := map[int]bool{} // removed
	markerAfter := func(i int, name string) int {
		for j := i + 1; j < len(rules); j++ {
			if rules[j].marker == name {
				return j
			}
		}
		return -1
	}
	// A jump whose marker does not follow it skips the rest of its phase and, since
	// Coraza does not reset SkipAfter between phases, the next phases too.
	for i, r := range rules {
		for _, e := range r.elems {
			for _, a := range e.acts {
				if a.name == "skipafter" && markerAfter(i, a.arg) < 0 {
					return nil, fmt.Errorf("rule %d jumps to %q, which does not follow it", r.id, a.arg)
				}
			}
		}
	}
	skipRange := func(i, end, phase int) {
		for j := i + 1; j < end; j++ {
			if rules[j].marker == "" && rules[j].phase == phase && !out[rules[j].id] {
				out[rules[j].id] = true
				p.skipped++
			}
		}
	}

	// C: the constant prefix of phase 1
	tx := initialTX()
	var keys []string // in order of first write
	for i := 0; i < len(rules); i++ {
		r := &rules[i]
		if r.marker != "" || r.phase != 1 {
			continue
		}
		if match, ok := constantOutcome(r, tx); ok && !modified[r.id] {
			if !match {
				out[r.id] = true
				p.prefix[r.id] = true
				p.constants++
				continue
			}
			if !constantEffects(r) {
				break
			}
			for _, a := range r.elems[0].acts {
				if a.name != "setvar" {
					continue
				}
				m := constSetvar.FindStringSubmatch(a.arg)
				k := strings.ToLower(m[1])
				if _, seen := tx[k]; !seen {
					keys = append(keys, k)
				}
				tx[k] = m[2]
			}
			out[r.id] = true
			p.prefix[r.id] = true
			p.constants++
			p.fired[0] = append(p.fired[0], r.id)
			p.guard[r.id] = true
			for _, a := range r.elems[0].acts {
				if a.name == "skipafter" {
					end := markerAfter(i, a.arg)
					for j := i + 1; j < end; j++ {
						if rules[j].marker == "" && rules[j].phase == 1 {
							p.prefix[rules[j].id] = true
						}
					}
					skipRange(i, end, 1)
					i = end
				}
			}
			continue
		}
		if !neutral(r) || modified[r.id] {
			break
		}
	}
	for _, k := range keys {
		p.seed = append(p.seed, txSeed{k, []string{tx[k]}})
	}

	// levels: never-matching rules and always-matching switches
	full := make([]types.RuleMetadata, 0, len(rules))
	for i := range rules {
		full = append(full, textRule{id: rules[i].id, raw: rules[i].text()})
	}
	never := map[int]bool{}
	for _, id := range neverMatching(full) {
		never[id] = true
	}
	always := map[int]bool{}
	for _, id := range alwaysMatching(full) {
		always[id] = true
	}
	setterAt := slices.IndexFunc(rules, func(r slRule) bool { return r.id == levelSetter })
	if setterAt < 0 || rules[setterAt].phase != 1 || !out[levelSetter] {
		always = nil // the switches need the level set before they run
	}
	for phase := 1; phase <= 2; phase++ {
		open := map[string]bool{} // markers of jumps that may be under way
		for i := 0; i < len(rules); i++ {
			r := &rules[i]
			if r.marker != "" {
				delete(open, r.marker)
				continue
			}
			if r.phase != phase || out[r.id] {
				continue
			}
			if always[r.id] && len(open) == 0 && isSwitch(r) && !modified[r.id] && (phase == 2 || i > setterAt) {
				target := ""
				for _, a := range r.elems[0].acts {
					if a.name == "skipafter" {
						target = a.arg
					}
				}
				if end := markerAfter(i, target); end > i {
					out[r.id] = true
					p.switches++
					p.fired[phase-1] = append(p.fired[phase-1], r.id)
					p.guard[r.id] = true
					skipRange(i, end, phase)
					i = end
					continue
				}
			}
			if never[r.id] && !modified[r.id] {
				out[r.id] = true
				p.never++
				continue
			}
			for _, e := range r.elems {
				for _, a := range e.acts {
					if a.name == "skipafter" {
						open[a.arg] = true
					}
				}
			}
		}
	}

	// skip:N counts the rules it passes over: none of them may be removed
	for i, r := range rules {
		if r.marker != "" || out[r.id] {
			continue
		}
		n := 0
		for _, a := range r.elems[0].acts {
			if a.name == "skip" {
				if !skipN.MatchString(a.arg) {
					return nil, fmt.Errorf("rule %d: skip:%s", r.id, a.arg)
				}
				n, _ = strconv.Atoi(a.arg)
			}
		}
		for j := i + 1; j < len(rules) && n > 0; j++ {
			if rules[j].marker == "" && rules[j].phase != r.phase {
				continue
			}
			if rules[j].marker == "" && out[rules[j].id] {
				return nil, fmt.Errorf("rule %d is within the reach of skip:%d of rule %d", rules[j].id, n, r.id)
			}
			n--
		}
	}

	// danger: rules left in place that can remove rules or switch the engine
	for _, r := range rules {
		if r.marker != "" || out[r.id] {
			continue
		}
		for k, e := range r.elems {
			for _, a := range e.acts {
				if a.name != "ctl" && a.name != "allow" {
					continue
				}
				if a.name == "ctl" && !dangerousCtl(a.arg) {
					continue
				}
				if k != len(r.elems)-1 {
					return nil, fmt.Errorf("rule %d: %s:%s before the end of its chain runs on a partial match", r.id, a.name, a.arg)
				}
				p.danger[r.id] = true
			}
		}
	}
	for id := range out {
		p.remove = append(p.remove, id)
	}
	slices.Sort(p.remove)
	p.sorted[0] = sortedUnique(p.fired[0])
	p.sorted[1] = sortedUnique(slices.Concat(p.fired[0], p.fired[1]))
	p.needed = neededTX(rules, out)
	for _, sd := range p.seed {
		if p.needed(sd.key) {
			p.seedRead = append(p.seedRead, sd)
		}
	}
	return p, nil
}

func sortedUnique(ids []int) []int {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

var (
	txMacroKey = regexp.MustCompile(`(?i)%\{tx\.([^}]*)\}`)
	setvarTX   = regexp.MustCompile(`(?i)^!?tx\.([^=]*)(?:=(.*))?$`)
)

// neededTX returns which seeded TX values some rule left in the request phases can read:
// a TX:name or &TX:name variable, a TX:/regex/ key, the whole TX, a %{tx.name} macro, or
// an arithmetic setvar (it reads the value it adds to), and the score Inspect reads. Seeding
// the others is work no rule, score or Result can see; the logging and response phases are
// not run by Inspect.
func neededTX(rules []slRule, out map[int]bool) func(string) bool {
	names := map[string]bool{"blocking_inbound_anomaly_score": true}
	var rxs []*regexp.Regexp
	all := false
	for _, r := range rules {
		if r.marker != "" || out[r.id] || r.phase < 1 || r.phase > 2 {
			continue
		}
		for _, m := range txMacroKey.FindAllStringSubmatch(r.text(), -1) {
			names[strings.ToLower(m[1])] = true
		}
		for _, e := range r.elems {
			for _, v := range strings.Split(e.vars, "|") {
				if strings.HasPrefix(v, "!") {
					continue // an exception: excludes, does not read
				}
				v = strings.TrimLeft(v, "&")
				name, key, hasKey := strings.Cut(v, ":")
				switch {
				case !strings.EqualFold(name, "tx"):
				case !hasKey || key == "":
					all = true
				case strings.HasPrefix(key, "/"):
					rx, err := regexp.Compile("(?i)" + strings.TrimSuffix(strings.TrimPrefix(key, "/"), "/"))
					if err != nil {
						all = true
						continue
					}
					rxs = append(rxs, rx)
				default:
					names[strings.ToLower(key)] = true
				}
			}
			for _, a := range e.acts {
				if a.name != "setvar" {
					continue
				}
				m := setvarTX.FindStringSubmatch(a.arg)
				if m == nil {
					all = true
					continue
				}
				if v := m[2]; v != "" && (v[0] == '+' || v[0] == '-') {
					if strings.Contains(m[1], "%{") {
						all = true
					}
					names[strings.ToLower(m[1])] = true
				}
			}
		}
	}
	return func(k string) bool {
		if all || names[k] {
			return true
		}
		for _, rx := range rxs {
			if rx.MatchString(k) {
				return true
			}
		}
		return false
	}
}

// initialTX is what a new Coraza transaction holds in TX: the capture slots 0 to 10, empty.
func initialTX() map[string]string {
	tx := map[string]string{}
	for i := 0; i <= 10; i++ {
		tx[strconv.Itoa(i)] = ""
	}
	return tx
}

// dangerousCtl: a ctl that can remove a rule, change a rule's TX targets or the engine mode.
func dangerousCtl(arg string) bool {
	a := strings.ToLower(arg)
	switch {
	case strings.HasPrefix(a, "ruleremovebyid"), strings.HasPrefix(a, "ruleremovebytag"), strings.HasPrefix(a, "ruleremovebymsg"),
		strings.HasPrefix(a, "ruleengine"):
		return true
	case strings.HasPrefix(a, "ruleremovetarget"):
		return strings.Contains(a, "tx")
	}
	return false
}

// constantOutcome decides a rule that reads only TX from the interpreter's state: whether
// it matches, and whether it is such a rule at all.
func constantOutcome(r *slRule, tx map[string]string) (match, ok bool) {
	h := &r.elems[0]
	if h.directive == "secaction" {
		return true, len(r.elems) == 1
	}
	if h.has("multimatch") {
		return false, false
	}
	for _, a := range h.acts {
		if a.name == "t" && !digitSafe[strings.ToLower(a.arg)] {
			return false, false
		}
	}
	v := txOnlyVar.FindStringSubmatch(h.vars)
	o := cmpOp.FindStringSubmatch(h.op)
	if v == nil || o == nil {
		return false, false
	}
	val, set := tx[strings.ToLower(v[2])]
	switch {
	case v[1] == "&":
		val = "0"
		if set {
			val = "1"
		}
	case !set:
		return false, true // no value: the operator is never called
	case !digits.MatchString(val):
		return false, false
	}
	arg := o[3]
	if o[4] != "" {
		a, set := tx[strings.ToLower(o[4])]
		if !set || !digits.MatchString(a) {
			return false, false
		}
		arg = a
	}
	x, _ := strconv.Atoi(val)
	y, _ := strconv.Atoi(arg)
	var m bool
	switch o[2] {
	case "eq":
		m = x == y
	case "lt":
		m = x < y
	case "le":
		m = x <= y
	case "gt":
		m = x > y
	case "ge":
		m = x >= y
	}
	return m != (o[1] == "!"), true
}

// constantEffects: a matching constant rule only stores constants and jumps.
func constantEffects(r *slRule) bool {
	if len(r.elems) != 1 {
		return false
	}
	for _, a := range r.elems[0].acts {
		if !constFiring[a.name] || a.name == "setvar" && !constSetvar.MatchString(a.arg) {
			return false
		}
	}
	return true
}

// neutral: a rule that may stay among the constant rules: it neither reads nor writes TX
// and changes no flow, so it runs the same with TX seeded early.
func neutral(r *slRule) bool {
	if txMacro.MatchString(r.text()) {
		return false
	}
	for _, e := range r.elems {
		for _, v := range strings.Split(e.vars, "|") {
			if readsTX.MatchString(v) {
				return false
			}
		}
		for _, a := range e.acts {
			if !neutralActs[a.name] {
				return false
			}
			if a.name == "ctl" {
				c := strings.ToLower(a.arg)
				if !strings.HasPrefix(c, "requestbodyprocessor=") && !strings.HasPrefix(c, "forcerequestbodyvariable=") {
					return false
				}
			}
		}
	}
	return true
}

// isSwitch: a level rule with nothing but the jump.
func isSwitch(r *slRule) bool {
	if len(r.elems) != 1 || !r.elems[0].has("skipafter") {
		return false
	}
	for _, a := range r.elems[0].acts {
		if !switchActs[a.name] && !(a.name == "t" && strings.EqualFold(a.arg, "none")) {
			return false
		}
	}
	return true
}

// textRule is a rule as the level proofs read it: id and the whole chain's text.
type textRule struct {
	types.RuleMetadata
	id  int
	raw string
}

func (r textRule) ID() int     { return r.id }
func (r textRule) Raw() string { return r.raw }

// checkSeed runs the constant prefix in Coraza itself: a rule set of exactly the prefix's
// rules and markers, in order, must end phase 1 with exactly the seed in TX and exactly
// the matching constant rules fired. It catches any misreading of Coraza's semantics
// (quoting, setvar, operators) by the interpreter.
func (p *staticPlan) checkSeed(t *slText) error {
	var b strings.Builder
	b.WriteString("SecRuleEngine DetectionOnly\n")
	for _, r := range t.rules {
		switch {
		case r.marker != "":
			fmt.Fprintf(&b, "SecMarker %s\n", r.marker)
		case p.prefix[r.id]:
			b.WriteString(r.text())
			b.WriteByte('\n')
		}
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(b.String()))
	if err != nil {
		return fmt.Errorf("constant rules: %w", err)
	}
	tx := w.NewTransaction()
	defer tx.Close()
	tv, ok := tx.(txVars)
	if !ok {
		return fmt.Errorf("transaction does not show TX")
	}
	tx.ProcessConnection("192.0.2.1", 1, "", 0)
	tx.ProcessURI("/", "GET", "HTTP/1.1")
	tx.ProcessRequestHeaders()
	var fired, want []int
	for _, mr := range tx.MatchedRules() {
		fired = append(fired, mr.Rule().ID())
	}
	for _, id := range p.fired[0] {
		if p.prefix[id] {
			want = append(want, id)
		}
	}
	slices.Sort(fired)
	slices.Sort(want)
	if !slices.Equal(fired, want) {
		return fmt.Errorf("constant rules: Coraza fired %v, the proof %v", fired, want)
	}
	got := map[string][]string{}
	for _, md := range tv.Variables().TX().FindAll() {
		got[md.Key()] = append(got[md.Key()], md.Value())
	}
	want2 := slices.Clone(p.seed)
	for k, v := range initialTX() {
		if !slices.ContainsFunc(p.seed, func(s txSeed) bool { return s.key == k }) {
			want2 = append(want2, txSeed{k, []string{v}})
		}
	}
	if len(got) != len(want2) {
		return fmt.Errorf("constant rules: Coraza stored %d TX variables, the proof %d", len(got), len(want2))
	}
	for _, s := range want2 {
		if !slices.Equal(got[s.key], s.values) {
			return fmt.Errorf("constant rules: TX:%s is %q in Coraza, %q in the proof", s.key, got[s.key], s.values)
		}
	}
	return nil
}

// removeDirective takes the plan's rules out of the compiled rule set.
func (p *staticPlan) removeDirective() string {
	var b strings.Builder
	b.WriteString("SecRuleRemoveById")
	for _, id := range p.remove {
		fmt.Fprintf(&b, " %d", id)
	}
	b.WriteByte('\n')
	return b.String()
}

// seedTX stores the constant prefix's TX values in a fresh transaction.
func (p *staticPlan) seedTX(tx types.Transaction) bool {
	tv, ok := tx.(txVars)
	if !ok {
		return false
	}
	col := tv.Variables().TX()
	for _, s := range p.seedRead {
		col.Set(s.key, s.values)
	}
	return true
}

// dangerFired: a rule that can remove rules or switch the engine matched.
func (p *staticPlan) dangerFired(tx types.Transaction) bool {
	if len(p.danger) == 0 {
		return false
	}
	for _, mr := range tx.MatchedRules() {
		if p.danger[mr.Rule().ID()] {
			return true
		}
	}
	return false
}

type lastPhaser interface{ LastPhase() types.RulePhase }

// firedFor returns the removed rules' ids that fired in the phases tx ran.
func (p *staticPlan) firedFor(tx types.Transaction) []int {
	lp, ok := tx.(lastPhaser)
	if !ok {
		return nil
	}
	switch ph := lp.LastPhase(); {
	case ph >= types.PhaseRequestBody:
		return p.sorted[1]
	case ph >= types.PhaseRequestHeaders:
		return p.sorted[0]
	}
	return nil
}
