package waf

// Paranoia-level rules that can never match. Every CRS rule file opens with
// `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 1" "...,skipAfter:END-..."` (one per phase), and
// the blocking/detection score sums test `TX:..._PARANOIA_LEVEL "@ge N"`. Measured on the
// benign GET, Coraza evaluates about 55 such rules that fail on every request: a rule
// whose operator fails has no effect (its actions, skipAfter and setvar included, run only
// on a match), so removing it from every transaction changes nothing.
//
// The proof is about the values the two variables can hold. Rule 900000 (directives) sets
// both to the configured level unconditionally, first thing in phase 1, before any CRS
// rule; after it the only other writers allowed are constant setvars (the CRS regression
// setup's level 4) and rules guarded by `&TX:<var> "@eq 0"` (901120, 901125), which cannot
// fire once 900000 has set the variable. So whenever a level rule runs, the variable holds
// one of the known constants: "@lt N" cannot match when every constant is >= N, "@ge N"
// cannot when every constant is < N. Any other writer (an increment, an unset, a macro,
// a rule that could remove 900000 before it runs) disables the whole proof.

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"
)

// levelSetter is the rule that sets both paranoia levels (see directives).
const levelSetter = 900000

var (
	levelRuleRx = regexp.MustCompile(`^SecRule (?i:TX:(detection|blocking)_paranoia_level) "@(lt|ge) ([0-9])" "([^"]*)"$`)
	levelSetRx  = regexp.MustCompile(`(?i)(!?)tx\.(detection|blocking)_paranoia_level\s*=([^,'"]*)`)
	levelUnset  = regexp.MustCompile(`(?i)!tx\.(detection|blocking)_paranoia_level`)
	levelGuard  = regexp.MustCompile(`^SecRule (?i:&TX:(detection|blocking)_paranoia_level) "@eq 0" `)
)

// neverMatching returns the ids of the level rules that cannot match, or nil when the
// values of the levels cannot be bounded.
func neverMatching(rules []types.RuleMetadata) []int {
	return levelRules(rules, false)
}

// alwaysMatching returns the ids of the level rules that match whenever they are evaluated
// after the setter, or nil when the values cannot be bounded: the symmetric proof. Once
// 900000 has run, the variable holds one of the known constants (nothing unsets it), so
// "@lt N" matches when every constant is < N and "@ge N" when every constant is >= N.
// Whether such a rule is reached at all (nothing removes it or jumps over it, it runs
// after the setter) is for the caller to prove (static.go).
func alwaysMatching(rules []types.RuleMetadata) []int {
	return levelRules(rules, true)
}

// levelBounds returns the least and greatest value each level can hold after the setter.
func levelBounds(rules []types.RuleMetadata) (lo, hi map[string]int, ok bool) {
	lo = map[string]int{"detection": 10, "blocking": 10}
	hi = map[string]int{"detection": -1, "blocking": -1}
	setterSeen := false
	for _, r := range rules {
		raw := r.Raw()
		if !setterSeen && r.ID() != levelSetter && strings.Contains(strings.ToLower(raw), "ruleremove") {
			return nil, nil, false // could remove the setter before it runs
		}
		if levelUnset.MatchString(raw) {
			return nil, nil, false
		}
		sets := levelSetRx.FindAllStringSubmatch(raw, -1)
		if len(sets) == 0 {
			if r.ID() == levelSetter {
				return nil, nil, false
			}
			continue
		}
		if r.ID() == levelSetter {
			setterSeen = true
		} else if !setterSeen {
			return nil, nil, false // a writer before the setter: its values are not bounded by it
		} else if m := levelGuard.FindStringSubmatch(raw); m != nil && len(sets) == 1 && strings.EqualFold(m[1], sets[0][2]) {
			continue // fires only while the variable is unset, which it never is after the setter
		}
		for _, s := range sets {
			v, err := strconv.Atoi(strings.TrimSpace(s[3]))
			if err != nil || s[1] != "" || strings.ContainsAny(s[3], "+-") {
				return nil, nil, false // increment, unset or macro
			}
			k := strings.ToLower(s[2])
			lo[k], hi[k] = min(lo[k], v), max(hi[k], v)
		}
	}
	if !setterSeen || hi["detection"] < 0 || hi["blocking"] < 0 {
		return nil, nil, false
	}
	return lo, hi, true
}

func levelRules(rules []types.RuleMetadata, always bool) []int {
	lo, hi, ok := levelBounds(rules)
	if !ok {
		return nil
	}
	var out []int
	for _, r := range rules {
		m := levelRuleRx.FindStringSubmatch(r.Raw())
		if m == nil || strings.Contains(m[4], "chain") || !strings.Contains(m[4], "id:"+strconv.Itoa(r.ID())+",") {
			continue
		}
		k := strings.ToLower(m[1])
		n, _ := strconv.Atoi(m[3])
		hit := m[2] == "lt" && lo[k] >= n || m[2] == "ge" && hi[k] < n
		if always {
			hit = m[2] == "lt" && hi[k] < n || m[2] == "ge" && lo[k] >= n
		}
		if hit {
			out = append(out, r.ID())
		}
	}
	return out
}
