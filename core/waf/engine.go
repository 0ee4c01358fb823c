package waf

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// Settings are the engine-wide knobs that need a rebuild of the compiled rule set.
type Settings struct {
	Paranoia          int   // CRS blocking and detection paranoia level, 1..4
	InboundThreshold  int   // inbound anomaly score that blocks
	OutboundThreshold int   // outbound anomaly score (response rules are not run; kept for CRS)
	BodyLimit         int64 // request body bytes inspected; the rest passes uninspected
	// Stock disables every speed-up: the plain Coraza + CRS engine, the baseline the fast one
	// is proved identical to and measured against.
	Stock bool
	// Extra directives appended after the CRS setup and before the rules (tests use it for the
	// CRS regression-suite settings).
	Extra string
}

// DefaultSettings are PL1, inbound threshold 5, outbound 4, 128 KiB of body.
func DefaultSettings() Settings {
	return Settings{Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 128 << 10}
}

func (s Settings) validate() error {
	if s.Paranoia < 1 || s.Paranoia > 4 {
		return &FieldError{Field: "paranoia", Msg: fmt.Sprintf("must be 1 to 4, got %d", s.Paranoia)}
	}
	if s.InboundThreshold < 1 {
		return &FieldError{Field: "inbound_threshold", Msg: fmt.Sprintf("must be at least 1, got %d", s.InboundThreshold)}
	}
	if s.OutboundThreshold < 1 {
		return &FieldError{Field: "outbound_threshold", Msg: fmt.Sprintf("must be at least 1, got %d", s.OutboundThreshold)}
	}
	if s.BodyLimit < 1024 {
		return &FieldError{Field: "body_limit", Msg: fmt.Sprintf("must be at least 1024 bytes, got %d", s.BodyLimit)}
	}
	return nil
}

// Engine is one compiled rule set. It is safe for concurrent use.
type Engine struct {
	set Settings
	// waf is the compiled rule set; with a static plan, without the rules the plan takes
	// out (static.go)
	waf  coraza.WAF
	gate *gate // nil on a stock engine
	// static: bookkeeping fixed by the settings, compiled out of waf (nil: none)
	static *staticPlan
	// quiet, restrict: rules of waf the engine evaluates itself under the static plan
	// (quiet.go)
	quiet    []quietRule
	restrict []restrictRule
	chains   []chainRule
	live     []int // ids of the rules waf holds, sorted (removeRanges)
	// full is the whole rule set, compiled on first need, for the requests the static plan
	// does not cover (an exclusion of a rule it relies on, a rule removal by ctl)
	full struct {
		once sync.Once
		waf  coraza.WAF
		err  error
	}
	// audits: the logging phase can be observed. Inspect collects its Result before that
	// phase, so the phase's rules (RESPONSE-980 reporting) change nothing in it; what they
	// could reach is the audit log and an error callback. The engine sets no callback, the
	// directives turn the audit engine off and CRS only ever turns it off, so the phase is
	// run only when Extra mentions auditing. Measured: about 5% of the benign GET.
	audits bool
}

// directives builds the SecLang configuration. The engine always runs DetectionOnly: the
// block decision (would-be interruption) is taken by the caller per app and path mode, so
// one compiled rule set serves block, detect and per-path modes alike.
func directives(s Settings) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRequestBodyLimit %d
SecRequestBodyInMemoryLimit %d
SecRequestBodyLimitAction ProcessPartial
SecRequestBodyJsonDepthLimit 1024
SecArgumentsLimit 1000
SecResponseBodyAccess Off
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.'"
SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:200004,phase:1,t:none,log,deny,status:400,msg:'Argument limit reached'"
SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:200005,phase:2,t:none,log,deny,status:400,msg:'Argument limit reached'"
`, s.BodyLimit, s.BodyLimit)
	b.WriteString("Include @crs-setup.conf.example\n")
	fmt.Fprintf(&b, `SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d,setvar:tx.detection_paranoia_level=%d"
SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d"
`, s.Paranoia, s.Paranoia, s.InboundThreshold, s.OutboundThreshold)
	b.WriteString(s.Extra)
	b.WriteString("\nInclude @owasp_crs/*.conf\n")
	return b.String()
}

// NewEngine compiles CRS with s (about a second of CPU).
func NewEngine(s Settings) (*Engine, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	text := directives(s)
	e := &Engine{set: s, audits: audits(s)}
	var read *slText
	if !s.Stock {
		// the static plan is made from the text before compiling, so one compilation
		// serves: the rules it takes out are removed by a directive at the end
		if t, err := readSeclang(text, coreruleset.FS); err == nil {
			if p, err := planStatic(t, s); err == nil && len(p.remove) > 0 {
				if err := p.checkSeed(t); err == nil {
					e.static, read = p, t
				}
			}
		}
	}
	compile := func(text string) (coraza.WAF, []types.RuleMetadata, error) {
		var rules []types.RuleMetadata
		cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(text)
		cfg = experimental.WAFConfigWithRuleObserver(cfg, func(r types.RuleMetadata) { rules = append(rules, r) })
		w, err := coraza.NewWAF(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("waf: compile CRS: %w", err)
		}
		return w, rules, nil
	}
	lean := text
	if e.static != nil {
		lean += "\n" + e.static.removeDirective()
	}
	w, rules, err := compile(lean)
	if err == nil && e.static != nil && verifySeclang(read, rules) != nil {
		// Coraza compiled something else than what the plan was made from: no plan
		e.static = nil
		w, rules, err = compile(text)
	}
	if err != nil {
		return nil, err
	}
	e.waf = w
	if !s.Stock {
		e.gate = newGate(rules, detectionLevel(s))
	}
	if e.static != nil {
		out := map[int]bool{}
		for _, id := range e.static.remove {
			out[id] = true
		}
		e.quiet = planQuiet(read, out)
		e.restrict = planRestrict(read, out, e.static.seed)
		e.chains = planChains(read, out)
		for _, r := range rules {
			if r.ID() != 0 && !out[r.ID()] {
				e.live = append(e.live, r.ID())
			}
		}
		slices.Sort(e.live)
		e.live = slices.Compact(e.live)
	}
	return e, nil
}

// fullWAF is the whole rule set: the compiled one when nothing was taken out of it.
func (e *Engine) fullWAF() (coraza.WAF, error) {
	if e.static == nil {
		return e.waf, nil
	}
	e.full.once.Do(func() {
		cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives(e.set))
		if e.full.waf, e.full.err = coraza.NewWAF(cfg); e.full.err != nil {
			e.full.err = fmt.Errorf("waf: compile CRS: %w", e.full.err)
		}
	})
	return e.full.waf, e.full.err
}

// audits reports whether the settings may turn the audit log on (see Engine.audits).
func audits(s Settings) bool { return strings.Contains(strings.ToLower(s.Extra), "audit") }

// compiled shares one engine per Settings across the process. Compiling CRS and the fast
// path's proofs costs about 1.6 s of CPU, and an Engine is immutable apart from its own
// locked plan cache, so every WAF stage built with the same settings (each appliance a
// test starts, a config reload that keeps the engine settings) can use the same one.
// Bounded: past maxShared distinct settings, engines are compiled without being kept.
var compiled = struct {
	mu sync.Mutex
	m  map[Settings]*sharedOnce
}{m: map[Settings]*sharedOnce{}}

const maxShared = 8

type sharedOnce struct {
	once sync.Once
	e    *Engine
	err  error
}

// SharedEngine returns the engine for s, compiling it on first use in this process.
// Concurrent callers with the same settings wait for one compilation.
func SharedEngine(s Settings) (*Engine, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	compiled.mu.Lock()
	o, ok := compiled.m[s]
	if !ok {
		if len(compiled.m) >= maxShared {
			compiled.mu.Unlock()
			return NewEngine(s)
		}
		o = &sharedOnce{}
		compiled.m[s] = o
	}
	compiled.mu.Unlock()
	o.once.Do(func() { o.e, o.err = NewEngine(s) })
	return o.e, o.err
}

// detectionLevel is the detection paranoia level the directives end up with: the
// setting, or a higher one set by Extra (the CRS regression setup sets 4). The fast path
// uses it only to decide which rules are worth verifying.
func detectionLevel(s Settings) int {
	pl := s.Paranoia
	for _, m := range detectionLevelRx.FindAllStringSubmatch(s.Extra, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil && n > pl {
			pl = n
		}
	}
	return pl
}

var detectionLevelRx = regexp.MustCompile(`(?i)tx\.detection_paranoia_level=(\d)`)

// Settings returns what the engine was built with.
func (e *Engine) Settings() Settings { return e.set }

// Request is what the engine inspects: the request line, the headers as sent and the body
// (already capped by the caller).
type Request struct {
	RemoteAddr string // ip:port
	Method     string
	URI        string // request target as sent, path and query
	Proto      string // HTTP/1.1
	Host       string
	Headers    [][2]string // in order, Host excluded (it is in Host)
	Body       []byte
}

// Match is one rule that fired.
type Match struct {
	RuleID   int      `json:"rule_id"`
	Msg      string   `json:"msg,omitempty"`
	Severity string   `json:"severity,omitempty"`
	Variable string   `json:"variable,omitempty"` // e.g. ARGS:q
	Data     string   `json:"data,omitempty"`     // matched data, truncated
	Tags     []string `json:"-"`
}

// Result is the engine's answer about one request.
type Result struct {
	Matches      []Match // rules that fired, in firing order, CRS bookkeeping rules excluded
	InboundScore int     // CRS blocking inbound anomaly score
	Block        bool    // a disruptive rule fired: the request is refused in block mode
	Status       int     // status the disruptive rule asked for (403, 400, 413)
	RuleID       int     // the disruptive rule
	fired        []int
}

// FiredIDs returns the sorted ids of every rule that fired, bookkeeping included; it is what
// the identity proof compares.
func (r Result) FiredIDs() []int { return r.fired }

// Exclusion removes a rule, or one rule's look at one parameter, from one transaction.
type txExclusion struct {
	RuleID int
	Target string // "" = whole rule; else "ARGS:name" style
}

// maxData bounds the matched data kept in a match (it lands in events and the console).
const maxData = 200

// Inspect runs the rules over req. Exclusions are applied to this request only.
func (e *Engine) Inspect(req *Request, excl []txExclusion) Result {
	if e.static != nil && !e.static.guarded(excl) {
		if res, ok := e.inspectStatic(req, excl); ok {
			return res
		}
	}
	return e.inspectFull(req, excl)
}

// inspectStatic runs the rule set the static plan was taken out of, and puts back what
// the plan's rules do: their TX values before the transaction starts, their ids once it
// ran. It declines (false) when a rule that can remove rules or switch the engine fired.
func (e *Engine) inspectStatic(req *Request, excl []txExclusion) (Result, bool) {
	tx := e.waf.NewTransaction()
	defer tx.Close()
	if !e.static.seedTX(tx) {
		return Result{}, false
	}
	applyExclusions(tx, excl)
	var removed []int // what the proofs remove, sorted
	if e.proves(req) {
		removed = e.gate.removable(req)
	}
	var more []int // rules of the chain and restricted-header kinds (quiet.go) that leave too
	for i := range e.restrict {
		if e.restrict[i].removable(req, removed, excl) {
			more = append(more, e.restrict[i].id)
		}
	}
	for i := range e.chains {
		if _, gone := slices.BinarySearch(removed, e.chains[i].id); !gone && e.chains[i].refuted(req, excl) {
			more = append(more, e.chains[i].id)
		}
	}
	if len(more) > 0 {
		slices.Sort(more)
		removed = mergeSorted(removed, more)
	}
	if rr, ok := tx.(txRanger); ok {
		removeRanges(rr, e.live, removed)
	}
	quiet := applyQuiet(e.quiet, tx, req.URI, excl, removed)
	e.feed(tx, req)
	if e.static.dangerFired(tx) {
		return Result{}, false
	}
	fired := e.static.firedFor(tx)
	if len(quiet) > 0 {
		fired = slices.Clone(fired)
		last := types.RulePhase(0)
		if lp, ok := tx.(lastPhaser); ok {
			last = lp.LastPhase()
		}
		for _, q := range quiet {
			if q.phase <= last {
				fired = append(fired, q.id)
			}
		}
		slices.Sort(fired)
		fired = slices.Compact(fired)
	}
	return collect(tx, fired), true
}

// proves: the gate's proofs apply to req. Coraza inspects only BodyLimit bytes; the proofs
// read the body as given, so a longer body (a caller that did not cap it) goes through the
// full rule set.
func (e *Engine) proves(req *Request) bool {
	return e.gate != nil && int64(len(req.Body)) <= e.set.BodyLimit
}

// removeProved removes from tx the rules the gate proves cannot match req.
func (e *Engine) removeProved(tx types.Transaction, req *Request) {
	if rm, ok := tx.(txRemover); ok && e.proves(req) {
		for _, id := range e.gate.removable(req) {
			rm.RemoveRuleByID(id)
		}
	}
}

// txRanger removes rules by id range from one transaction.
type txRanger interface{ RemoveRuleByIDRange(start, end int) }

// removeRanges removes the sorted ids from tx as ranges over live, the sorted ids of the
// compiled rule set: a run of live ids that are all removed is one range (ids between them
// that the set does not hold are nobody's). Coraza checks a rule against its removal map
// and then its ranges; one map insert per rule (on the benign GET about 150, and the map
// grown from empty in every transaction) cost more than a few dozen ranges checked by the
// few hundred rules of a phase.
func removeRanges(tx txRanger, live, removed []int) {
	j, start, last := 0, -1, 0
	for _, id := range live {
		for j < len(removed) && removed[j] < id {
			j++
		}
		if j < len(removed) && removed[j] == id {
			if start < 0 {
				start = id
			}
			last = id
			continue
		}
		if start >= 0 {
			tx.RemoveRuleByIDRange(start, last)
			start = -1
		}
	}
	if start >= 0 {
		tx.RemoveRuleByIDRange(start, last)
	}
}

// inspectFull runs the whole rule set, level rules removed per transaction.
func (e *Engine) inspectFull(req *Request, excl []txExclusion) Result {
	w, err := e.fullWAF()
	if err != nil {
		// cannot happen (the same text compiled once already); fail closed
		return Result{Block: true, Status: 500}
	}
	tx := w.NewTransaction()
	defer func() {
		if e.audits {
			tx.ProcessLogging()
		}
		tx.Close()
	}()
	applyExclusions(tx, excl)
	e.removeProved(tx, req)
	if e.gate != nil && len(e.gate.never) > 0 && !removesSetter(excl) {
		if rm, ok := tx.(txRemover); ok {
			for _, id := range e.gate.never {
				rm.RemoveRuleByID(id)
			}
		}
	}
	e.feed(tx, req)
	return collect(tx, nil)
}

// removesSetter: an exclusion of the rule that sets the paranoia levels voids the proof
// that the level rules cannot match (levels.go).
func removesSetter(excl []txExclusion) bool {
	for _, x := range excl {
		if x.RuleID == levelSetter && x.Target == "" {
			return true
		}
	}
	return false
}

func (e *Engine) feed(tx types.Transaction, req *Request) {
	host, port := splitHostPort(req.RemoteAddr)
	tx.ProcessConnection(host, port, "", 0)
	proto := req.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	tx.ProcessURI(req.URI, req.Method, proto)
	if req.Host != "" {
		tx.AddRequestHeader("Host", req.Host)
		tx.SetServerName(req.Host)
	}
	for _, h := range req.Headers {
		tx.AddRequestHeader(h[0], h[1])
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return
	}
	if len(req.Body) > 0 && tx.IsRequestBodyAccessible() {
		if it, _, err := tx.WriteRequestBody(req.Body); it != nil || err != nil {
			return
		}
	}
	tx.ProcessRequestBody()
}

func splitHostPort(a string) (string, int) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, 0
	}
	p, _ := strconv.Atoi(a[i+1:])
	return strings.Trim(a[:i], "[]"), p
}

type detectionOnly interface {
	DetectionOnlyInterruption() *types.Interruption
}

type txVars interface {
	Variables() plugintypes.TransactionVariables
}

type txRemover interface {
	RemoveRuleByID(id int)
	RemoveRuleTargetByID(id int, variable variables.RuleVariable, key string, keyRx *regexp.Regexp)
}

func applyExclusions(tx types.Transaction, excl []txExclusion) {
	if len(excl) == 0 {
		return
	}
	rm, ok := tx.(txRemover)
	if !ok {
		return
	}
	for _, x := range excl {
		if x.Target == "" {
			rm.RemoveRuleByID(x.RuleID)
			continue
		}
		name, key, _ := strings.Cut(x.Target, ":")
		v, err := variables.Parse(name)
		if err != nil {
			continue // validated when the policy was set
		}
		rm.RemoveRuleTargetByID(x.RuleID, v, strings.ToLower(key), nil)
	}
}

// bookkeeping rules fire on every request or only carry scores; they are not attacks.
func bookkeeping(id int) bool {
	switch {
	case id >= 900000 && id < 902000: // CRS setup and initialization
		return true
	case id >= 949000 && id < 950000, id >= 959000 && id < 960000, id >= 980000 && id < 981000:
		return true
	}
	return false
}

// collect reads the Result off tx; also are the ids of rules that fired outside it, sorted
// and unique.
func collect(tx types.Transaction, also []int) Result {
	var res Result
	for _, mr := range tx.MatchedRules() {
		id := mr.Rule().ID()
		res.fired = append(res.fired, id)
		if bookkeeping(id) || mr.Message() == "" {
			continue
		}
		m := Match{RuleID: id, Msg: mr.Message(), Severity: mr.Rule().Severity().String(), Tags: mr.Rule().Tags()}
		if mds := mr.MatchedDatas(); len(mds) > 0 {
			md := mds[0]
			m.Variable = md.Variable().Name()
			if k := md.Key(); k != "" {
				m.Variable += ":" + k
			}
			d := md.Value()
			if d == "" {
				d = md.Data()
			}
			m.Data = truncate(d, maxData)
			if m.Msg == "" {
				m.Msg = md.Message()
			}
		}
		res.Matches = append(res.Matches, m)
	}
	sort.Ints(res.fired)
	res.fired = uniq(res.fired)
	if len(also) > 0 {
		res.fired = mergeSorted(res.fired, also)
	}
	if tv, ok := tx.(txVars); ok {
		if v := tv.Variables().TX().Get("blocking_inbound_anomaly_score"); len(v) > 0 {
			res.InboundScore, _ = strconv.Atoi(v[0])
		}
	}
	var it *types.Interruption
	if d, ok := tx.(detectionOnly); ok {
		it = d.DetectionOnlyInterruption()
	}
	if it == nil {
		it = tx.Interruption()
	}
	if it != nil && it.Action != "allow" && it.Action != "pass" {
		res.Block = true
		res.Status = it.Status
		if res.Status == 0 {
			res.Status = 403
		}
		res.RuleID = it.RuleID
	}
	return res
}

// mergeSorted merges two sorted, unique lists into a new one.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			out, a = append(out, a[0]), a[1:]
		case a[0] > b[0]:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return append(append(out, a...), b...)
}

func uniq(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// do not cut a UTF-8 sequence in half
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// FieldError is a refused setting or policy, naming the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
