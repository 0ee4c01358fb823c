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
// that carries the tag and still runs in this transaction, and its id among the fired ones. That is the whole effect because
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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
// removed (sorted) are the rules the proofs took out of tx: a tagged rule among them never
// runs, so its targets need no change.
func applyQuiet(q []quietRule, tx types.Transaction, uri string, excl []txExclusion, removed []int) []quietRule {
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
				if _, gone := slices.BinarySearch(removed, id); !gone {
					rm.RemoveRuleTargetByID(id, variables.RequestFilename, "", nil)
				}
			}
			fired = append(fired, q[i])
		}
	}
	return fired
}

// Restricted-header rules: 920450 runs over every header name
//
//	SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:920450,phase:1,block,capture,t:none,t:lowercase,
//	    msg:...,setvar:'tx.header_name_920450_%{tx.0}=/%{tx.0}/',chain"
//	    SecRule TX:/^header_name_920450_/ "@within %{tx.restricted_headers_basic}" "setvar:..."
//
// Its head matches every name, so Coraza captures each lowercased name, expands the setvar
// per name and runs the chain: 34 µs of the benign GET (leave-one-out, as above). The rule
// matches only when some "/name/" is within the restricted list; otherwise what it leaves is
// TX.0 (the last name captured) and the header_name_920450_* variables. The engine removes
// it from a transaction when its chain cannot match and no rule that could read what it
// leaves runs after it in that transaction:
//   - the head is exactly that (variable, operator, t:none,t:lowercase, capture, one setvar
//     of prefix P; only msg, logdata, tag, ver, severity and block beside), the chain reads
//     exactly TX:/^P/ with @within %{tx.L}, t:none at most, and no third rule;
//   - L is a constant of the static plan's seed that no rule left in the compiled set writes
//     (no setvar or unset of tx.L, no setvar key with a macro that could spell it), and no
//     other rule writes a key starting with P, so the chain reads exactly "/name/" for each
//     header name (lowercased, Host included) and the seeded list: the native check below;
//   - readers are the compiled-in rules after it that name TX.0 or a key starting with P: the
//     whole TX, TX:0, a TX:/regex/ that can match either, a %{tx.0} or %{tx.P...} macro. A rule
//     whose head captures with a non-negated @rx, and names TX.0 only after its head (chain,
//     actions), overwrites TX.0 before it can read it and is not a reader. Every reader must
//     be removed from the transaction by the proofs, else the rule stays.
type restrictRule struct {
	id      int
	listKey string // L
	list    string
	prefix  string
	readers []int // sorted
	// keyReaders read TX keys matching rx: readers only of the keys a request's header
	// names make
	keyReaders []keyReader
	// names remembers what a header name as sent decides (nameFacts), for up to maxNames
	// names: browsers send the same dozen on every request
	names  *sync.Map
	nNames *atomic.Int32
}

const (
	maxNames      = 4096
	maxKeyReaders = 62
)

// nameFacts: bit 0, the chain matches on the name; bit 1+i, key reader i reads its key.
type nameFacts uint64

type keyReader struct {
	id int
	rx *regexp.Regexp
}

var (
	restrictSetvar = regexp.MustCompile(`^(?i)tx\.([a-z0-9_]+)%\{tx\.0\}=/%\{tx\.0\}/$`)
	withinTX       = regexp.MustCompile(`^(?i)@within %\{tx\.([a-z0-9_]+)\}$`)
	txZeroMacro    = regexp.MustCompile(`(?i)%\{tx\.0\}`)
)

// planRestrict finds the restricted-header rules of t compiled without out, with seed the
// static plan's constant TX values.
func planRestrict(t *slText, out map[int]bool, seed []txSeed) []restrictRule {
	var res []restrictRule
	for i := range t.rules {
		r := &t.rules[i]
		if r.marker != "" || out[r.id] {
			continue
		}
		rr, ok := restrictShape(r, seed)
		if !ok || !onlyWriter(t, out, r.id, rr) {
			continue
		}
		for j := i + 1; j < len(t.rules); j++ {
			o := &t.rules[j]
			if o.marker == "" && !out[o.id] && o.phase >= r.phase && o.phase <= 2 {
				rr.addReader(o)
			}
		}
		for j := 0; j < i; j++ { // a later phase's rules stand before it in the text too
			o := &t.rules[j]
			if o.marker == "" && !out[o.id] && o.phase > r.phase && o.phase <= 2 {
				rr.addReader(o)
			}
		}
		slices.Sort(rr.readers)
		if len(rr.keyReaders) > maxKeyReaders {
			continue // more than nameFacts can hold
		}
		rr.names, rr.nNames = &sync.Map{}, &atomic.Int32{}
		res = append(res, rr)
	}
	return res
}

func restrictShape(r *slRule, seed []txSeed) (restrictRule, bool) {
	rr := restrictRule{id: r.id}
	if len(r.elems) != 2 || r.phase < 1 || r.phase > 2 {
		return rr, false
	}
	h, c := &r.elems[0], &r.elems[1]
	if h.directive != "secrule" || !strings.EqualFold(h.vars, "REQUEST_HEADERS_NAMES") || h.op != "@rx ^.*$" {
		return rr, false
	}
	var ts []string
	for _, a := range h.acts {
		switch a.name {
		case "id", "phase", "block", "capture", "msg", "logdata", "tag", "ver", "severity", "chain":
		case "t":
			ts = append(ts, strings.ToLower(a.arg))
		case "setvar":
			m := restrictSetvar.FindStringSubmatch(a.arg)
			if m == nil || rr.prefix != "" {
				return rr, false
			}
			rr.prefix = strings.ToLower(m[1])
		default:
			return rr, false
		}
	}
	if !slices.Equal(ts, []string{"none", "lowercase"}) || rr.prefix == "" || !h.has("capture") {
		return rr, false
	}
	if c.directive != "secrule" || !strings.EqualFold(c.vars, "TX:/^"+rr.prefix+"/") {
		return rr, false
	}
	m := withinTX.FindStringSubmatch(c.op)
	if m == nil {
		return rr, false
	}
	for _, a := range c.acts {
		if a.name != "setvar" && !(a.name == "t" && strings.EqualFold(a.arg, "none")) {
			return rr, false
		}
	}
	l := strings.ToLower(m[1])
	rr.listKey = l
	for _, s := range seed {
		if s.key == l && len(s.values) == 1 {
			rr.list = s.values[0]
			return rr, true
		}
	}
	return rr, false
}

// onlyWriter: no compiled-in rule but rr's writes the list or a key starting with its prefix.
func onlyWriter(t *slText, out map[int]bool, id int, rr restrictRule) bool {
	for i := range t.rules {
		o := &t.rules[i]
		if o.marker != "" || out[o.id] {
			continue
		}
		for _, e := range o.elems {
			for _, a := range e.acts {
				if a.name != "setvar" {
					continue
				}
				m := setvarTX.FindStringSubmatch(a.arg)
				if m == nil {
					return false
				}
				key := strings.ToLower(m[1])
				lit, macro := key, false
				if k := strings.Index(key, "%{"); k >= 0 {
					lit, macro = key[:k], true
				}
				if o.id == id && key == rr.prefix+"%{tx.0}" {
					continue
				}
				if key == rr.listKey || macro && strings.HasPrefix(rr.listKey, lit) {
					return false
				}
				if strings.HasPrefix(key, rr.prefix) || macro && strings.HasPrefix(rr.prefix, lit) {
					return false
				}
			}
		}
	}
	return true
}

// addReader records o as a reader of what rr leaves, if it is one.
func (rr *restrictRule) addReader(o *slRule) {
	always, rxs := readsLeft(o, rr.prefix)
	if always {
		rr.readers = append(rr.readers, o.id)
		return
	}
	for _, rx := range rxs {
		rr.keyReaders = append(rr.keyReaders, keyReader{o.id, rx})
	}
}

// readsLeft: o could read TX.0 or a TX key starting with prefix (see restrictRule) whatever
// the request (always), or the TX keys some of rxs match.
func readsLeft(o *slRule, prefix string) (always bool, rxs []*regexp.Regexp) {
	h := &o.elems[0]
	captures := h.has("capture") && capturingOp(h.op)
	for k, e := range o.elems {
		zeroOK := k > 0 && captures // read after the head captured
		if txZeroMacro.MatchString(e.op) && !zeroOK {
			return true, nil
		}
		if strings.Contains(strings.ToLower(e.raw), "%{tx."+prefix) {
			return true, nil
		}
		for _, a := range e.acts {
			if txZeroMacro.MatchString(a.arg) && !captures {
				return true, nil
			}
		}
		for _, v := range strings.Split(e.vars, "|") {
			if strings.HasPrefix(v, "!") {
				continue
			}
			name, key, hasKey := strings.Cut(strings.TrimLeft(v, "&"), ":")
			if !strings.EqualFold(name, "tx") {
				continue
			}
			key = strings.ToLower(key)
			switch {
			case !hasKey || key == "":
				return true, nil
			case strings.HasPrefix(key, "/"):
				pat := strings.TrimSuffix(strings.TrimPrefix(key, "/"), "/")
				rx, err := regexp.Compile("(?i)" + pat)
				if err != nil || rx.MatchString("0") && !zeroOK {
					return true, nil
				}
				lit, anchored := strings.CutPrefix(pat, "^")
				if n := strings.IndexFunc(lit, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') }); n >= 0 {
					lit = lit[:n]
				}
				if !anchored || strings.HasPrefix(lit, prefix) || strings.HasPrefix(prefix, lit) {
					rxs = append(rxs, rx)
				}
			case key == "0":
				if !zeroOK {
					return true, nil
				}
			case strings.HasPrefix(key, prefix):
				return true, nil
			}
		}
	}
	return false, rxs
}

// capturingOp: on a match, Coraza 3.8.1's operator stores TX.0 when the rule captures: @pm,
// @pmf, @pmFromFile, @detectSQLi, and @rx except on its exact-match path (a ^literal$
// pattern returns without capturing; any pattern between ^ and $ is counted as one).
func capturingOp(op string) bool {
	name, arg, _ := strings.Cut(op, " ")
	switch name {
	case "@pm", "@pmf", "@pmFromFile", "@detectSQLi":
		return true
	case "@rx":
		arg = strings.TrimPrefix(arg, "(?i)")
		return !(strings.HasPrefix(arg, "^") && strings.HasSuffix(arg, "$"))
	}
	return false
}

// removable: in a transaction that removes the sorted ids removed and has excl, the rule
// cannot match and nothing that could read what it leaves runs.
func (rr *restrictRule) removable(req *Request, removed []int, excl []txExclusion) bool {
	for _, x := range excl {
		if x.RuleID == rr.id {
			return false
		}
	}
	for _, id := range rr.readers {
		if _, ok := slices.BinarySearch(removed, id); !ok {
			return false
		}
	}
	if req.Host != "" && rr.blocks(removed, "Host") {
		return false
	}
	for _, h := range req.Headers {
		if rr.blocks(removed, h[0]) {
			return false
		}
	}
	return true
}

// blocks: header name makes the chain match, or leaves a key a live key reader reads.
func (rr *restrictRule) blocks(removed []int, name string) bool {
	f := rr.facts(name)
	if f&1 != 0 {
		return true
	}
	for i, k := range rr.keyReaders {
		if f&(2<<i) != 0 {
			if _, gone := slices.BinarySearch(removed, k.id); !gone {
				return true
			}
		}
	}
	return false
}

// facts computes (or recalls) what a header name decides.
func (rr *restrictRule) facts(name string) nameFacts {
	if rr.names != nil {
		if f, ok := rr.names.Load(name); ok {
			return f.(nameFacts)
		}
	}
	n := strings.ToLower(name)
	var f nameFacts
	if strings.Contains(rr.list, "/"+n+"/") {
		f |= 1
	}
	for i, k := range rr.keyReaders { // at most maxKeyReaders (planRestrict)
		if k.rx.MatchString(rr.prefix + n) {
			f |= 2 << i
		}
	}
	if rr.names != nil && rr.nNames.Add(1) <= maxNames {
		rr.names.Store(name, f)
	}
	return f
}

// Refuted chains: a chained rule matches only when every rule of its chain matches, and a
// rule of the chain that matches runs its non-disruptive actions at once (a head's setvar
// runs even when a later rule fails). So when some rule k of the chain provably cannot
// match in this request and the rules before it carry no action that does anything on
// their own match (only metadata, transformations and the disruptive action, which waits
// for the whole chain), the rule has no effect at all and leaves the transaction. Measured
// on the benign GET: 920170 and 920171 (GET with a Content-Length or Transfer-Encoding),
// 920180 (a POST over HTTP/1 without either) and 920640 (a body without Content-Type) ran
// their heads and chains on every request, 14, 13 and more µs each (leave-one-out, as above).
//
// What this file evaluates exactly, per request, for a chain rule k > 0 (or a head):
// REQUEST_HEADERS:name (no header of that name: no value, and Coraza runs no operator, negated
// or not, on no value), &REQUEST_HEADERS:name with @eq/@gt/@lt/@ge/@le N, negated or not (the
// number of headers of that name, case folded as Coraza keys them), REQUEST_METHOD with
// @streq, negated or not (t:none or no transformation), and REQUEST_BODY_LENGTH @gt 0 on a
// request without a body. An exclusion naming the rule leaves it to Coraza.
type chainRule struct {
	id  int
	nth []elemTest // the chain's rules this file can decide, each refutes the rule alone
}

// elemTest decides whether one rule of a chain cannot match.
type elemTest func(req *Request) bool

var inertActions = map[string]bool{"id": true, "phase": true, "block": true, "deny": true, "pass": true, "drop": true,
	"status": true, "t": true, "severity": true, "msg": true, "logdata": true, "tag": true, "ver": true, "rev": true,
	"maturity": true, "accuracy": true, "chain": true, "log": true, "nolog": true, "auditlog": true, "noauditlog": true}

// planChains finds the compiled-in chained rules with a decidable rule whose predecessors
// are inert.
func planChains(t *slText, out map[int]bool) []chainRule {
	var res []chainRule
	for i := range t.rules {
		r := &t.rules[i]
		if r.marker != "" || out[r.id] || len(r.elems) < 2 {
			continue
		}
		cr := chainRule{id: r.id}
		for k := range r.elems {
			if test, ok := elemRefuter(&r.elems[k]); ok {
				cr.nth = append(cr.nth, test)
			}
			inert := true
			for _, a := range r.elems[k].acts {
				inert = inert && inertActions[a.name]
			}
			if !inert {
				break // rules after it run only after its actions did
			}
		}
		if len(cr.nth) > 0 {
			res = append(res, cr)
		}
	}
	return res
}

var countOp = regexp.MustCompile(`^(!?)@(eq|gt|lt|ge|le) ([0-9]+)$`)

// elemRefuter returns a test for e when this file evaluates it exactly.
func elemRefuter(e *slElem) (elemTest, bool) {
	if e.directive != "secrule" || strings.ContainsAny(e.vars, "|!") {
		return nil, false
	}
	for _, a := range e.acts {
		if a.name == "t" && !strings.EqualFold(a.arg, "none") || a.name == "multimatch" {
			return nil, false
		}
	}
	name, key, _ := strings.Cut(e.vars, ":")
	switch {
	case strings.EqualFold(name, "REQUEST_HEADERS") && key != "" && !strings.HasPrefix(key, "/"):
		return func(req *Request) bool { return headerCount(req, key) == 0 }, true
	case strings.EqualFold(name, "&REQUEST_HEADERS") && key != "" && !strings.HasPrefix(key, "/"):
		m := countOp.FindStringSubmatch(e.op)
		if m == nil {
			return nil, false
		}
		n, _ := strconv.Atoi(m[3])
		neg := m[1] == "!"
		op := m[2]
		return func(req *Request) bool { return compare(op, headerCount(req, key), n) == neg }, true
	case strings.EqualFold(e.vars, "REQUEST_METHOD"):
		op, neg := strings.CutPrefix(e.op, "!")
		want, ok := strings.CutPrefix(op, "@streq ")
		if !ok || strings.Contains(want, "%{") {
			return nil, false
		}
		return func(req *Request) bool { return (req.Method == want) == neg }, true
	case strings.EqualFold(e.vars, "REQUEST_BODY_LENGTH") && e.op == "@gt 0":
		return func(req *Request) bool { return len(req.Body) == 0 }, true
	}
	return nil, false
}

// headerCount is how many values Coraza keeps under a header name (Host included).
func headerCount(req *Request, key string) int {
	n := 0
	key = strings.ToLower(key) // Coraza keys headers lowercased
	if req.Host != "" && key == "host" {
		n++
	}
	for _, h := range req.Headers {
		if len(h[0]) == len(key) && strings.ToLower(h[0]) == key {
			n++
		}
	}
	return n
}

func compare(op string, a, b int) bool {
	switch op {
	case "eq":
		return a == b
	case "gt":
		return a > b
	case "lt":
		return a < b
	case "ge":
		return a >= b
	}
	return a <= b
}

// refuted: some decidable rule of the chain cannot match req.
func (cr *chainRule) refuted(req *Request, excl []txExclusion) bool {
	for _, x := range excl {
		if x.RuleID == cr.id {
			return false
		}
	}
	for _, test := range cr.nth {
		if test(req) {
			return true
		}
	}
	return false
}
