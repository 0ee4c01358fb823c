package waf

// Residual rules: the detection and protocol rules the alphabet and factor proofs keep on
// benign traffic, because their input holds the bytes their expressions need (a '.' and a
// '/' in every User-Agent for 930110's "../"), because they decode in ways no alphabet
// argument follows (941100's htmlEntityDecode, jsDecode, cssDecode), because their operator
// is libinjection (941100, 942100) or because they are negated (920100, 920600). Measured
// on the benign GET and 2 KB form POST of bench_test.go (a one-rule Coraza engine against
// an empty one, medians of interleaved rounds): 930110 cost 32 / 190 µs, 941100 15 / 80,
// 942100 15 / 40, 932140 8 / 67, 932120 - / 53, 934160 7 / 34, 920100 7 / 7.
//
// Here a rule's head is evaluated exactly as Coraza would, value by value, before Coraza
// runs: the values Coraza derives for its variables (raw header values as fed, the request
// line and URI parts as ProcessURI computes them, cookies as Coraza splits them, query and
// urlencoded form arguments as Coraza's parser splits and decodes them; names in their sent
// and lowercased forms, a superset), its transformations where they are reproduced byte for
// byte for that value (otherwise the rule stays), and its operator computed the way Coraza
// computes it (the same regular expression compilation, an Aho-Corasick automaton over
// the same lowercased phrases with the same options, the same libinjection calls, the same string and number
// comparisons), negation included. The rule is removed only when no value can match.
//
// Why a superset of values is enough: a rule's head matches when some value v gives
// op(v) != negated; if no value of a superset does, none of the real ones does, and a head
// that does not match leaves its chain unevaluated and its actions unrun. Exclusions
// (ctl:ruleRemoveTargetById, the appliance's per-parameter exclusions) only take values
// away. Counts (&REQUEST_HEADERS:name) are the exception: an exclusion lowers them, so a
// count rule goes only when every count from zero up to the real one fails.
//
// What is accepted is decided mechanically when the engine is built (acceptResidual): a
// SecRule whose head has t:none first, only the variables, transformations and operators
// below, no macro in its operator, and a regular expression that Coraza compiles with Go's
// regexp (not its binary matcher); rules a skip:N may jump over are never removed (see
// newGate). A count of a TX variable (&TX:MAX_NUM_ARGS) is 0 when no rule's setvar can
// name it (txSetters). TestIdentityResidual checks every accepted rule's evaluation
// against Coraza (an engine of the accepted heads) on the corpora, the CRS regression
// requests and hostile mutations.
//
// Assumed, as native.go and levels.go assume: the body processor is the one Coraza picks
// from a single Content-Type (no directive switches a form body to another processor with
// ctl:requestBodyProcessor), and no SecDefaultAction carries a setvar.

import (
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/libinjection-go"
	ahocorasick "github.com/petar-dambovaliev/aho-corasick"
	"golang.org/x/net/html"
)

// variable kinds a residual rule may read.
const (
	rvHeaders     = iota // REQUEST_HEADERS (all, or one name)
	rvHeaderNames        // REQUEST_HEADERS_NAMES
	rvCookies            // REQUEST_COOKIES (all, or any name: a superset)
	rvCookieNames        // REQUEST_COOKIES_NAMES
	rvArgs               // ARGS, ARGS_GET, ARGS_POST (all, or any name: a superset)
	rvArgNames           // ARGS_NAMES, ARGS_GET_NAMES, ARGS_POST_NAMES
	rvURIRaw             // REQUEST_URI_RAW
	rvURI                // REQUEST_URI
	rvFilename           // REQUEST_FILENAME
	rvBasename           // REQUEST_BASENAME
	rvQuery              // QUERY_STRING
	rvLine               // REQUEST_LINE
	rvMethod             // REQUEST_METHOD
	rvProto              // REQUEST_PROTOCOL
	rvBodyOnly           // FILES, FILES_NAMES, XML:/*: none without a multipart or XML body
	rvHeaderCount        // &REQUEST_HEADERS:name
	rvUnsetCount         // &TX:name of a variable no rule sets: 0
)

type residVar struct {
	kind int
	key  string // lowercased header name; "" = every header
}

// residRule is one accepted rule head.
type residRule struct {
	id    int
	vars  []residVar
	excl  []string // lowercased header names excluded from REQUEST_HEADERS
	trans []string // lowercased transformation names, "none" first
	multi bool     // multiMatch: the operator sees every changed intermediate value
	neg   bool
	op    func(string) bool
	// facs: for a case-sensitive expression, strings one of which every match holds
	// (lowercased: searched ASCII case-insensitively, a superset); a value with none of
	// them cannot match
	facs []string
	head string // the head's text and the rule's file (TestIdentityResidual)
	file string
}

// residual is the set of accepted rules of one engine.
type residual struct {
	rules []residRule
	// pos: per id from lo, 1 + the index of its rule, 0 for none (an array: the ids the
	// other proofs remove, hundreds per request, are looked up here)
	lo  int
	pos []int16
}

// newResidual accepts the rules it can evaluate exactly among those reachable at the
// detection paranoia level pl.
func newResidual(rules []types.RuleMetadata, pl int) *residual {
	r := &residual{}
	set := txSetters(rules)
	afterSkip := 0
	for _, m := range rules {
		raw := m.Raw()
		if afterSkip > 0 {
			// Coraza counts skip:N over the rules it does not remove: a rule a skip may
			// jump over stays (the same window as newGate's)
			afterSkip--
			if strings.Contains(raw, "skip:") {
				afterSkip = 10
			}
			continue
		}
		if i := strings.Index(raw, "skip:"); i >= 0 && !strings.HasPrefix(raw[i:], "skipAfter") {
			afterSkip = 10
		}
		if !reachableAt(m.Tags(), pl) {
			continue // never evaluated at this level: nothing to save
		}
		if rr, ok := acceptResidual(m.ID(), raw, m.File(), set); ok {
			r.rules = append(r.rules, rr)
		}
	}
	lo, hi := 0, 0
	for i, rr := range r.rules {
		if i == 0 {
			lo, hi = rr.id, rr.id
		}
		lo, hi = min(lo, rr.id), max(hi, rr.id)
	}
	// ids spread over more than a million (odd directives) or too many rules: the array
	// would be too large, and the evaluation is not used
	if len(r.rules) > 0 && len(r.rules) < 1<<15 && hi-lo < 1<<20 {
		r.lo, r.pos = lo, make([]int16, hi-lo+1)
		for i, rr := range r.rules {
			r.pos[rr.id-lo] = int16(i + 1)
		}
	} else {
		r.rules = nil
	}
	return r
}

// txSetters returns a test for whether some rule may set TX:name: a setvar naming it
// (any case), a setvar whose name holds a macro after a prefix of it, or a capture
// (TX:0-9). Only rules write TX variables, and the rule list holds every rule, the
// directives' own SecActions included.
func txSetters(rules []types.RuleMetadata) func(string) bool {
	names := map[string]bool{}
	var prefixes []string
	for _, m := range rules {
		raw := strings.ToLower(m.Raw())
		for {
			i := strings.Index(raw, "setvar:")
			if i < 0 {
				break
			}
			raw = raw[i+len("setvar:"):]
			t := strings.TrimLeft(raw, "'\" !")
			if j := strings.IndexAny(t, "=,'\" \n"); j >= 0 {
				t = t[:j]
			}
			if k := strings.Index(t, "%{"); k >= 0 {
				prefixes = append(prefixes, t[:k])
			} else {
				names[t] = true
			}
		}
	}
	return func(name string) bool {
		n := "tx." + strings.ToLower(name)
		if names[n] || (len(name) == 1 && name[0] >= '0' && name[0] <= '9') {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(n, p) {
				return true
			}
		}
		return false
	}
}

// acceptResidual turns a rule into a residRule, or says it is outside what is reproduced;
// txSet says whether a TX variable may be set by some rule.
func acceptResidual(id int, raw, file string, txSet func(string) bool) (residRule, bool) {
	raw, toks, ok := secHead(raw)
	if id <= 0 || !ok || len(toks) != 3 {
		return residRule{}, false
	}
	rr := residRule{id: id, head: raw, file: file}
	for _, v := range strings.Split(toks[0], "|") {
		if !rr.addVar(strings.TrimSpace(v), txSet) {
			return residRule{}, false
		}
	}
	for _, a := range splitActions(toks[2]) {
		name, arg, _ := strings.Cut(a, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "t":
			t := strings.ToLower(strings.TrimSpace(arg))
			if !residTransformKnown(t) || (len(rr.trans) == 0) != (t == "none") {
				return residRule{}, false
			}
			rr.trans = append(rr.trans, t)
		case "multimatch":
			rr.multi = true
		}
	}
	if len(rr.trans) == 0 {
		return residRule{}, false // default transformations would apply
	}
	op := strings.ReplaceAll(toks[1], `\"`, `"`) // Coraza's UnescapeQuotedString
	if strings.HasPrefix(op, "!") {
		rr.neg = true
		op = op[1:]
	}
	if !strings.HasPrefix(op, "@") || strings.Contains(op, "%{") {
		return residRule{}, false // implicit @rx and macros are left to Coraza
	}
	name, arg, _ := strings.Cut(op[1:], " ")
	counted := false
	for _, v := range rr.vars {
		if v.kind == rvHeaderCount || v.kind == rvUnsetCount {
			counted = true
		}
	}
	if counted && len(rr.vars) != 1 {
		return residRule{}, false
	}
	switch name {
	case "rx":
		if counted || binaryPattern(arg) {
			return residRule{}, false
		}
		pattern := "(?sm)" + arg
		re, err := regexp.Compile(pattern)
		if err != nil {
			return residRule{}, false
		}
		// On a value without '\n', (?m) changes nothing (^ and $ can only hold at its ends)
		// but keeps Go's matcher from seeing that ^ anchors the expression at the start:
		// measured, 920100 and 920600 ran several times faster without it.
		single, err := regexp.Compile("(?s)" + arg)
		if err != nil {
			return residRule{}, false
		}
		rr.op = func(v string) bool {
			if strings.IndexByte(v, '\n') < 0 {
				return single.MatchString(v)
			}
			return re.MatchString(v)
		}
		if syn, err := syntax.Parse(pattern, syntax.Perl); err == nil && !strings.Contains(pattern, "(?i") {
			if f, ok := necessaryD(syn.Simplify(), false, 0, newMemo(256)); ok && len(f) > 0 && len(f) <= 8 && !slices.Contains(f, "") {
				rr.facs = f
			}
		}
	case "pm", "pmFromFile", "pmf":
		if counted {
			return residRule{}, false
		}
		var dict []string
		opts := ahocorasick.Opts{AsciiCaseInsensitive: true, MatchKind: ahocorasick.LeftMostLongestMatch, DFA: true}
		if name == "pm" {
			dict = strings.Split(strings.ToLower(arg), " ")
		} else {
			// the file as Coraza reads it: relative to the rule's file, from the CRS FS
			if file == "" || path.IsAbs(arg) {
				return residRule{}, false
			}
			data, err := fs.ReadFile(coreruleset.FS, path.Join(path.Dir(file), arg))
			if err != nil {
				return residRule{}, false
			}
			for _, l := range strings.Split(string(data), "\n") {
				l = strings.TrimSpace(l)
				if l != "" && l[0] != '#' {
					dict = append(dict, strings.ToLower(l))
				}
			}
		}
		minLen := 0
		for _, p := range dict {
			if minLen == 0 || len(p) < minLen {
				minLen = len(p)
			}
			if p == "" {
				return residRule{}, false // matches everything
			}
		}
		b := ahocorasick.NewAhoCorasickBuilder(opts)
		ac := b.Build(dict)
		rr.op = func(v string) bool { return len(v) >= minLen && ac.Iter(v).Next() != nil }
	case "detectXSS":
		if counted {
			return residRule{}, false
		}
		rr.op = libinjection.IsXSS
	case "detectSQLi":
		if counted {
			return residRule{}, false
		}
		rr.op = func(v string) bool { ok, _ := libinjection.IsSQLi(v); return ok }
	case "streq":
		rr.op = func(v string) bool { return v == arg }
	case "within":
		rr.op = func(v string) bool { return strings.Contains(arg, v) }
	case "contains":
		rr.op = func(v string) bool { return strings.Contains(v, arg) }
	case "beginsWith":
		rr.op = func(v string) bool { return strings.HasPrefix(v, arg) }
	case "endsWith":
		rr.op = func(v string) bool { return strings.HasSuffix(v, arg) }
	case "eq", "gt", "ge", "lt", "le":
		k, _ := strconv.Atoi(arg) // Coraza ignores the error: a bad number is 0
		rr.op = numOp(name, k)
	default:
		return residRule{}, false
	}
	return rr, true
}

// numOp compares Atoi(value) with k as Coraza's @eq, @gt, @ge, @lt, @le do.
func numOp(name string, k int) func(string) bool {
	return func(v string) bool {
		n, _ := strconv.Atoi(v)
		switch name {
		case "eq":
			return n == k
		case "gt":
			return n > k
		case "ge":
			return n >= k
		case "lt":
			return n < k
		}
		return n <= k
	}
}

// addVar records one variable of a rule head; false when it is not reproduced.
func (rr *residRule) addVar(v string, txSet func(string) bool) bool {
	if v == "" {
		return false
	}
	if v[0] == '!' {
		// an exclusion only takes values away: keeping them is a superset, except for
		// named request headers, which are honoured (930110 skips Referer)
		name, key, ok := strings.Cut(v[1:], ":")
		if ok && strings.EqualFold(name, "REQUEST_HEADERS") && key != "" && !strings.HasPrefix(key, "/") && !strings.ContainsAny(key, "'\"") {
			rr.excl = append(rr.excl, strings.ToLower(key))
		}
		return true
	}
	count := v[0] == '&'
	if count {
		v = v[1:]
	}
	name, key, hasKey := strings.Cut(v, ":")
	name = strings.ToUpper(name)
	if count && name == "TX" {
		// a count of a TX variable no rule sets is 0 on every request
		if !hasKey || key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "'\"%{") || txSet(key) {
			return false
		}
		rr.vars = append(rr.vars, residVar{kind: rvUnsetCount, key: strings.ToLower(key)})
		return true
	}
	if count {
		if name != "REQUEST_HEADERS" || !hasKey || key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "'\"") {
			return false
		}
		rr.vars = append(rr.vars, residVar{kind: rvHeaderCount, key: strings.ToLower(key)})
		return true
	}
	kind := -1
	switch name {
	case "REQUEST_HEADERS":
		if hasKey {
			if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "'\"") {
				return false
			}
			rr.vars = append(rr.vars, residVar{kind: rvHeaders, key: strings.ToLower(key)})
			return true
		}
		kind = rvHeaders
	case "REQUEST_HEADERS_NAMES":
		kind = rvHeaderNames
	case "REQUEST_COOKIES":
		kind = rvCookies // a key selects some of them: all is a superset
	case "REQUEST_COOKIES_NAMES":
		kind = rvCookieNames
	case "ARGS", "ARGS_GET", "ARGS_POST":
		kind = rvArgs
	case "ARGS_NAMES", "ARGS_GET_NAMES", "ARGS_POST_NAMES":
		kind = rvArgNames
	case "REQUEST_URI_RAW":
		kind = rvURIRaw
	case "REQUEST_URI":
		kind = rvURI
	case "REQUEST_FILENAME":
		kind = rvFilename
	case "REQUEST_BASENAME":
		kind = rvBasename
	case "QUERY_STRING":
		kind = rvQuery
	case "REQUEST_LINE":
		kind = rvLine
	case "REQUEST_METHOD":
		kind = rvMethod
	case "REQUEST_PROTOCOL":
		kind = rvProto
	case "FILES", "FILES_NAMES", "XML":
		kind = rvBodyOnly
	default:
		return false
	}
	if hasKey && kind >= rvURIRaw && kind != rvBodyOnly {
		return false
	}
	rr.vars = append(rr.vars, residVar{kind: kind})
	return true
}

// binaryPattern reports whether a \x escape in the expression may stand for a byte above
// 0x7f: Coraza then compiles it with its binary matcher, not Go's regexp (rx.go), and the
// rule is left to Coraza. A superset of Coraza's own test, which reads every backslash
// followed by 'x' as an escape, even one that is itself escaped.
func binaryPattern(p string) bool {
	for i := 0; i+3 < len(p); i++ {
		if p[i] != '\\' || p[i+1] != 'x' {
			continue
		}
		h := p[i+2:]
		if h[0] == '{' {
			h = h[1:]
		}
		if len(h) >= 2 && h[0] >= '8' && isHex(h[0]) && isHex(h[1]) {
			return true
		}
		if len(h) >= 3 && p[i+2] == '{' && isHex(h[0]) && isHex(h[1]) && isHex(h[2]) {
			return true // \x{100} and up
		}
	}
	return false
}

func residTransformKnown(t string) bool {
	switch t {
	case "none", "lowercase", "urldecodeuni", "jsdecode", "removewhitespace", "base64decode", "utf8tounicode",
		"removenulls", "cmdline", "htmlentitydecode", "cssdecode", "replacecomments", "length":
		return true
	}
	return false
}

// residTransform applies one transformation as Coraza does; ok=false when this value is
// outside what is reproduced byte for byte.
func residTransform(t, v string) (string, bool) {
	switch t {
	case "none":
		return v, true
	case "lowercase":
		return strings.ToLower(v), true
	case "urldecodeuni", "jsdecode", "removewhitespace", "base64decode":
		return emulate([]string{t}, v)
	case "utf8tounicode":
		// the identity on ASCII; anything else becomes %u escapes that urlDecodeUni
		// decodes through a best-fit table not reproduced here
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				return "", false
			}
		}
		return v, true
	case "removenulls":
		return strings.ReplaceAll(v, "\x00", ""), true
	case "cmdline":
		return cmdLine(v), true
	case "htmlentitydecode":
		return html.UnescapeString(v), true // what Coraza calls
	case "cssdecode":
		if strings.IndexByte(v, '\\') >= 0 {
			return "", false
		}
		return v, true
	case "replacecomments":
		if strings.Contains(v, "/*") {
			return "", false
		}
		return v, true
	case "length":
		return strconv.Itoa(len(v)), true
	}
	return "", false
}

// cmdLine is Coraza's cmdLine (ModSecurity's): backslashes, quotes and carets deleted,
// ',' ';' and whitespace (space, tab, CR, LF) folded into one space, a space before '/'
// or '(' deleted, ASCII upper case lowered.
func cmdLine(v string) string {
	out := make([]byte, 0, len(v))
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '"', '\'', '\\', '^':
		case ' ', ',', ';', '\t', '\r', '\n':
			if !space {
				out = append(out, ' ')
				space = true
			}
		case '/', '(':
			if space {
				out = out[:len(out)-1]
			}
			space = false
			out = append(out, c)
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			space = false
		}
	}
	return string(out)
}

// residValues is what Coraza derives from one request, computed once for every rule.
type residValues struct {
	req       *Request
	headers   [][3]string // name, value, lowercased name; Host first as feed adds it
	cookies   []string    // names (sent and lowercased) and values
	cookieVal []string
	cookieNam []string
	argsDone  bool
	argsOK    bool
	argVals   []string
	argNames  []string
	uriDone   bool
	uri       string // REQUEST_URI
	filename  string
	basename  string
	query     string
	proto     string
	bodyOnly  bool // FILES / XML can hold values: the body is neither empty nor a form
	// tcache: transformations of long values, shared by the rules (many start with the
	// same ones, e.g. utf8toUnicode, urlDecodeUni)
	tcache map[[2]string]tresult
}

type tresult struct {
	v  string
	ok bool
}

// transform is residTransform, remembered for values of 64 bytes or more.
func (rv *residValues) transform(t, v string) (string, bool) {
	if len(v) < 64 {
		return residTransform(t, v)
	}
	k := [2]string{t, v}
	if r, ok := rv.tcache[k]; ok {
		return r.v, r.ok
	}
	out, ok := residTransform(t, v)
	if rv.tcache == nil {
		rv.tcache = map[[2]string]tresult{}
	}
	rv.tcache[k] = tresult{out, ok}
	return out, ok
}

// anyFold reports whether one of the lowercase ASCII strings fs occurs in s, ASCII case
// folded (or more: a non-ASCII byte run may compare equal under strings.EqualFold).
func anyFold(s string, fs []string) bool {
	for _, f := range fs {
		c := f[0]
		first := [2]byte{c, c}
		if c >= 'a' && c <= 'z' {
			first[1] = c - 'a' + 'A'
		}
		for _, b := range first[:1+btoi(first[1] != first[0])] {
			for i := 0; ; {
				k := strings.IndexByte(s[i:], b)
				if k < 0 || i+k+len(f) > len(s) {
					break
				}
				if strings.EqualFold(s[i+k:i+k+len(f)], f) {
					return true
				}
				i += k + 1
			}
		}
	}
	return false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func newResidValues(req *Request) *residValues {
	rv := &residValues{req: req, proto: req.Proto}
	if rv.proto == "" {
		rv.proto = "HTTP/1.1" // what feed sends
	}
	if req.Host != "" {
		rv.headers = append(rv.headers, [3]string{"Host", req.Host, "host"})
	}
	for _, h := range req.Headers {
		if h[0] == "" {
			continue // AddRequestHeader ignores an empty name
		}
		l := strings.ToLower(h[0])
		rv.headers = append(rv.headers, [3]string{h[0], h[1], l})
		if l == "cookie" || strings.EqualFold(h[0], "Cookie") { // Coraza: ToLower; either is a superset
			for _, c := range parseCookies(h[1]) {
				rv.cookieNam = append(rv.cookieNam, c[0])
				if l := strings.ToLower(c[0]); l != c[0] {
					rv.cookieNam = append(rv.cookieNam, l)
				}
				rv.cookieVal = append(rv.cookieVal, c[1])
			}
		}
	}
	rv.bodyOnly = len(req.Body) > 0 && !isURLEncoded(req)
	return rv
}

// parseCookies splits a Cookie header as Coraza's cookies.ParseCookies does: at ';', each
// part trimmed of bytes up to 0x20 and 0x7f, then at the first '=', name and value trimmed
// again; a part with neither name nor value is dropped.
func parseCookies(h string) [][2]string {
	var out [][2]string
	h = trimCTL(h)
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ";")
		part = trimCTL(part)
		if part == "" {
			continue
		}
		name, val, _ := strings.Cut(part, "=")
		name, val = trimCTL(name), trimCTL(val)
		if name == "" && val == "" {
			continue
		}
		out = append(out, [2]string{name, val})
	}
	return out
}

// uriParts computes REQUEST_URI, REQUEST_FILENAME, REQUEST_BASENAME and QUERY_STRING as
// Coraza's ProcessURI does.
func (rv *residValues) uriParts() {
	if rv.uriDone {
		return
	}
	rv.uriDone = true
	u := rv.req.URI
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	var p string
	if pu, err := url.ParseRequestURI(u); err != nil {
		rv.uri = u
		if i := strings.IndexByte(u, '?'); i >= 0 {
			p, rv.query = u[:i], u[i+1:]
		} else {
			p = u
		}
	} else {
		rv.uri = pu.String()
		p, rv.query = pu.Path, pu.RawQuery
	}
	rv.filename = p
	if i := strings.LastIndexAny(p, "/\\"); i >= 0 && len(p) > i+1 {
		rv.basename = p[i+1:]
	} else {
		rv.basename = p
	}
}

// args computes ARGS and ARGS_NAMES: the query (and a urlencoded body) split and decoded
// as Coraza's url.ParseQuery does; ok=false for a body another processor would parse.
func (rv *residValues) args() bool {
	if rv.argsDone {
		return rv.argsOK
	}
	rv.argsDone = true
	if rv.bodyOnly {
		return false
	}
	rv.uriParts()
	rv.addForm(rv.query)
	if len(rv.req.Body) > 0 {
		rv.addForm(string(rv.req.Body))
	}
	rv.argsOK = true
	return true
}

func (rv *residValues) addForm(q string) {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, v = unescapeForm(k), unescapeForm(v)
		rv.argNames = append(rv.argNames, k)
		if l := strings.ToLower(k); l != k {
			rv.argNames = append(rv.argNames, l)
		}
		rv.argVals = append(rv.argVals, v)
	}
}

// unescapeForm is Coraza's queryUnescape ('+' a space, %XX a byte, anything else as it
// is), without a copy when there is nothing to decode.
func unescapeForm(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	return string(queryUnescape(s))
}

// values calls f on every value of v (a superset of Coraza's); false when not reproduced
// or when f says stop.
func (rv *residValues) values(v residVar, excl []string, f func(string) bool) bool {
	each := func(vs []string) bool {
		for _, s := range vs {
			if !f(s) {
				return false
			}
		}
		return true
	}
	switch v.kind {
	case rvHeaders:
	next:
		for _, h := range rv.headers {
			if v.key != "" && h[2] != v.key && !strings.EqualFold(h[0], v.key) {
				continue
			}
			for _, x := range excl {
				if h[2] == x { // exactly Coraza's test: lowercased names equal
					continue next
				}
			}
			if !f(h[1]) {
				return false
			}
		}
		return true
	case rvHeaderNames:
		for _, h := range rv.headers {
			if !f(h[0]) {
				return false
			}
			if h[2] != h[0] && !f(h[2]) {
				return false
			}
		}
		return true
	case rvHeaderCount:
		n := 0
		for _, h := range rv.headers {
			if h[2] == v.key || strings.EqualFold(h[0], v.key) {
				n++
			}
		}
		// an exclusion can only lower the count: every count up to n
		for c := 0; c <= n; c++ {
			if !f(strconv.Itoa(c)) {
				return false
			}
		}
		return true
	case rvUnsetCount:
		return f("0")
	case rvCookies:
		return each(rv.cookieVal)
	case rvCookieNames:
		return each(rv.cookieNam)
	case rvArgs:
		return rv.args() && each(rv.argVals)
	case rvArgNames:
		return rv.args() && each(rv.argNames)
	case rvURIRaw:
		return f(rv.req.URI)
	case rvLine:
		return f(rv.req.Method + " " + rv.req.URI + " " + rv.proto)
	case rvMethod:
		return f(rv.req.Method)
	case rvProto:
		return f(rv.proto)
	case rvBodyOnly:
		return !rv.bodyOnly
	}
	rv.uriParts()
	switch v.kind {
	case rvURI:
		return f(rv.uri)
	case rvFilename:
		return f(rv.filename)
	case rvBasename:
		return f(rv.basename)
	case rvQuery:
		return f(rv.query)
	}
	return false
}

// refutedBy reports whether no value of rv can make rr's head match.
func (rr *residRule) refutedBy(rv *residValues) bool {
	ok := true
	check := func(s string) bool {
		if rr.facs != nil && !rr.neg && !anyFold(s, rr.facs) {
			return true // no factor: the expression cannot match
		}
		if rr.op(s) != rr.neg {
			ok = false
		}
		return ok
	}
	visit := func(v string) bool {
		if !rr.multi {
			t, good := v, true
			for _, name := range rr.trans {
				if t, good = rv.transform(name, t); !good {
					ok = false
					return false
				}
			}
			return check(t)
		}
		// multiMatch: the value and every intermediate result (a superset of the
		// changed ones Coraza checks)
		if !check(v) {
			return false
		}
		t := v
		for _, name := range rr.trans {
			next, good := rv.transform(name, t)
			if !good {
				ok = false
				return false
			}
			if next != t {
				if name == "htmlentitydecode" && len(next) == len(t) {
					// Coraza calls it unchanged when the length stays ("&#0" becomes
					// U+FFFD) and goes on with the old value: not reproduced
					ok = false
					return false
				}
				if !check(next) {
					return false
				}
				t = next
			}
		}
		return true
	}
	for _, v := range rr.vars {
		if !rv.values(v, rr.excl, visit) {
			return false
		}
	}
	return ok
}

// refuted appends to out the ids of the accepted rules no value of req can match, among
// those not already in removed or out (the other proofs' removals).
func (r *residual) refuted(req *Request, removed, out []int) []int {
	if r == nil || len(r.rules) == 0 {
		return out
	}
	gone := make([]bool, len(r.rules))
	for _, ids := range [2][]int{removed, out} {
		for _, id := range ids {
			if k := id - r.lo; k >= 0 && k < len(r.pos) && r.pos[k] > 0 {
				gone[r.pos[k]-1] = true
			}
		}
	}
	rv := newResidValues(req)
	for i := range r.rules {
		if !gone[i] && r.rules[i].refutedBy(rv) {
			out = append(out, r.rules[i].id)
		}
	}
	return out
}
