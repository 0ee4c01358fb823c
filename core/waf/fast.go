package waf

// The fast path. Measured (BenchmarkStock*, go test -cpuprofile): on a benign request
// nearly all of Coraza's time goes to rules that cannot match: each runs its
// transformations over every argument, header and cookie and then a large regular
// expression that fails. The fast path proves, per request and before Coraza runs, which
// rules cannot match, and removes them from that one transaction (Coraza's own
// ctl:ruleRemoveById mechanism). A removed rule is one that would not have matched, and a
// rule that does not match has no effect, so every verdict, score and fired rule id stays
// what the stock engine computes. TestIdentityCRSRegression checks exactly that on the
// whole CRS regression suite.
//
// The proof is about alphabets: the set of bytes that can occur in what a rule's operator
// sees. From the raw request we compute, per source (URI, headers, cookies, body), the set
// of bytes that can occur in any variable Coraza derives from it (url-decoding included);
// each transformation of the rule maps that set to a superset of its possible output (a
// decoding that could produce anything maps to "anything"). If the rule's regular
// expression has no match over that alphabet at all (every path through it needs a byte
// that cannot occur, e.g. '<' or '\'' on a plain form), or none of its phrases can occur,
// the rule cannot match. Anything we cannot reason about (negated operators, macros,
// libinjection, numbers, TX variables, non-ASCII input, JSON escapes, XML entities) keeps
// the rule. The set of removable rules depends only on the alphabets, so it is cached.
//
// SecRxPreFilter On (Coraza's own literal prefilter) is also enabled on the fast engine.

import (
	"fmt"
	"io/fs"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/types"
)

// sources a variable draws from; each has a raw and a decoded alphabet.
const (
	srcURI      = 1 << iota // the request target, raw and url-decoded
	srcArgsGet              // query argument names and values, url-decoded
	srcHeaders              // every header name and value, either case
	srcCookies              // the Cookie headers, raw and decoded
	srcBodyRaw              // the body as sent
	srcBodyArgs             // names and values the body processor derives
	srcMeta                 // method and protocol
	srcDigits               // counts and lengths
	srcUA                   // the User-Agent header
	srcReferer              // the Referer header
	srcPath                 // the path, raw and decoded
	nSources    = iota
	srcFull     = 1 << 15
)

type sourceSet [nSources]alphabet

type check struct {
	id     int
	src    int
	trans  []string
	re     *syntax.Regexp // @rx
	lits   []string       // @pm, @contains, ...: any may occur
	ci     bool           // lits compare case-insensitively
	ranges *alphabet      // @validateByteRange: the allowed bytes
	urlEnc bool           // @validateUrlEncoding
}

type gate struct {
	checks []check
	mu     sync.Mutex
	cache  map[sourceSet][]int
}

// maxCache bounds the remembered alphabet combinations; the map is dropped when full.
const maxCache = 4096

func newGate(rules []types.RuleMetadata) *gate {
	g := &gate{cache: map[sourceSet][]int{}}
	afterSkip := 0
	for _, r := range rules {
		raw := r.Raw()
		if afterSkip > 0 {
			// Coraza counts skip:N over rules it does not remove, so the rules a skip may
			// jump over are never removed.
			afterSkip--
			if strings.Contains(raw, "skip:") {
				afterSkip = 10
			}
			continue
		}
		if i := strings.Index(raw, "skip:"); i >= 0 && !strings.HasPrefix(raw[i:], "skipAfter") {
			afterSkip = 10
		}
		if c, ok := analyse(r.ID(), raw); ok {
			g.checks = append(g.checks, c)
		}
	}
	return g
}

// analyse turns a rule into a check, or says it must always run.
func analyse(id int, raw string) (check, bool) {
	if !strings.HasPrefix(raw, "SecRule ") {
		return check{}, false
	}
	if i := strings.Index(raw, " \n"); i >= 0 { // chained rules: the head decides
		raw = raw[:i]
	}
	toks, ok := secTokens(raw[len("SecRule "):])
	if !ok || len(toks) < 2 {
		return check{}, false
	}
	vars, op := toks[0], toks[1]
	actions := ""
	if len(toks) > 2 {
		actions = toks[2]
	}
	c := check{id: id}
	if c.src, ok = varSources(vars); !ok {
		return check{}, false
	}
	for _, a := range splitActions(actions) {
		if strings.HasPrefix(a, "t:") {
			c.trans = append(c.trans, strings.TrimSpace(a[2:]))
		}
	}
	if strings.HasPrefix(op, "!") || strings.Contains(op, "%{") {
		return check{}, false
	}
	name, arg := "rx", op
	if strings.HasPrefix(op, "@") {
		name, arg, _ = strings.Cut(op[1:], " ")
		arg = strings.TrimSpace(arg)
	}
	switch strings.ToLower(name) {
	case "rx":
		re, err := syntax.Parse("(?sm)"+arg, syntax.Perl)
		if err != nil {
			return check{}, false
		}
		c.re = re.Simplify()
	case "pm":
		c.lits, c.ci = strings.Fields(unescapeQuotes(arg)), true
	case "pmfromfile", "pmf":
		for _, f := range strings.Fields(arg) {
			b, err := fs.ReadFile(coreruleset.FS, "@owasp_crs/"+f)
			if err != nil {
				return check{}, false
			}
			for _, l := range strings.Split(string(b), "\n") {
				l = strings.TrimSpace(l)
				if l != "" && !strings.HasPrefix(l, "#") {
					c.lits = append(c.lits, l)
				}
			}
		}
		c.ci = true
		if len(c.lits) == 0 {
			return check{}, false
		}
	case "contains", "beginswith", "endswith", "streq", "containsword":
		c.lits = []string{unescapeQuotes(arg)}
	case "validatebyterange":
		a, ok := byteRanges(arg)
		if !ok {
			return check{}, false
		}
		c.ranges = &a
	case "validateurlencoding":
		c.urlEnc = true
	default:
		return check{}, false
	}
	return c, true
}

func unescapeQuotes(s string) string { return strings.ReplaceAll(s, `\"`, `"`) }

// secTokens splits `VARS "OP" "ACTIONS"` honouring double quotes and \" escapes.
func secTokens(s string) ([]string, bool) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return out, true
		}
		if s[0] != '"' {
			i := strings.IndexAny(s, " \t\r\n")
			if i < 0 {
				i = len(s)
			}
			out = append(out, s[:i])
			s = s[i:]
			continue
		}
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '"' {
				break
			}
		}
		if i >= len(s) {
			return nil, false
		}
		out = append(out, s[1:i])
		s = s[i+1:]
	}
}

// splitActions splits on commas outside single quotes.
func splitActions(s string) []string {
	var out []string
	q := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			q = !q
		case ',':
			if !q {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func byteRanges(arg string) (alphabet, bool) {
	var a alphabet
	for _, part := range strings.Split(arg, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		l, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || l < 0 || l > 255 {
			return a, false
		}
		h := l
		if isRange {
			if h, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || h < l || h > 255 {
				return a, false
			}
		}
		for c := l; c <= h; c++ {
			a.add(byte(c))
		}
	}
	return a, true
}

// varSources maps a rule's variable list to the sources it reads; false if any variable
// is outside what the gate models.
func varSources(vars string) (int, bool) {
	src := 0
	for _, v := range strings.Split(vars, "|") {
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "!") {
			continue // an exclusion only narrows what is read
		}
		if strings.HasPrefix(v, "&") {
			src |= srcDigits
			continue
		}
		name, key, _ := strings.Cut(v, ":")
		switch strings.ToUpper(name) {
		case "ARGS", "ARGS_NAMES":
			src |= srcArgsGet | srcBodyArgs
		case "ARGS_GET", "ARGS_GET_NAMES":
			src |= srcArgsGet
		case "ARGS_POST", "ARGS_POST_NAMES", "FILES", "FILES_NAMES", "MULTIPART_PART_HEADERS",
			"MULTIPART_FILENAME", "MULTIPART_NAME", "XML":
			src |= srcBodyArgs
		case "REQUEST_BODY":
			src |= srcBodyRaw | srcBodyArgs
		case "REQUEST_FILENAME", "REQUEST_BASENAME", "PATH_INFO":
			src |= srcPath
		case "REQUEST_URI", "REQUEST_URI_RAW", "QUERY_STRING":
			src |= srcURI
		case "REQUEST_LINE":
			src |= srcURI | srcMeta
		case "REQUEST_METHOD", "REQUEST_PROTOCOL":
			src |= srcMeta
		case "REQUEST_HEADERS":
			switch strings.ToLower(key) {
			case "user-agent":
				src |= srcUA
			case "referer":
				src |= srcReferer
			case "cookie":
				src |= srcCookies
			case "":
				src |= srcHeaders
				if !strings.Contains(vars, "!REQUEST_HEADERS:Cookie") {
					src |= srcCookies
				}
			default:
				src |= srcHeaders
			}
		case "REQUEST_HEADERS_NAMES":
			src |= srcHeaders
		case "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES":
			src |= srcCookies
		case "ARGS_COMBINED_SIZE", "FILES_COMBINED_SIZE", "FILES_SIZES", "REQUEST_BODY_LENGTH",
			"FULL_REQUEST_LENGTH":
			src |= srcDigits
		default:
			return 0, false
		}
	}
	return src, src != 0
}

// sourceAlphabets computes the byte set of each source of req (index = bit position).
func sourceAlphabets(req *Request) sourceSet {
	var s sourceSet
	path, query, _ := strings.Cut(req.URI, "?")
	s[0] = alphabetOf(req.URI).union(decodedAlphabet([]byte(req.URI)))
	if needsEscaping(req.URI) { // REQUEST_URI is the re-encoded parsed URI
		s[0] = s[0].union(alphabetOf("%0123456789ABCDEFabcdef"))
	}
	s[1] = formAlphabet([]byte(query))
	s[10] = alphabetOf(path).union(decodedAlphabet([]byte(path)))
	hdr := alphabetOf(req.Host).union(alphabetOf("host"))
	ctype := ""
	nctype := 0
	for _, h := range req.Headers {
		hdr = hdr.union(alphabetOf(h[0]))
		switch {
		case strings.EqualFold(h[0], "Cookie"):
			s[3] = s[3].union(alphabetOf(h[1])).union(decodedAlphabet([]byte(h[1])))
			continue // headers minus Cookie; rules reading every header also read srcCookies
		case strings.EqualFold(h[0], "Content-Type"):
			nctype++
			ctype = h[1]
		case strings.EqualFold(h[0], "User-Agent"):
			s[8] = s[8].union(alphabetOf(h[1]))
		case strings.EqualFold(h[0], "Referer"):
			s[9] = s[9].union(alphabetOf(h[1]))
		}
		hdr = hdr.union(alphabetOf(h[1]))
	}
	s[2] = hdr.addCase()
	body := req.Body
	s[4] = alphabetOfBytes(body)
	urlencoded := nctype == 1 && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ctype)), "application/x-www-form-urlencoded")
	switch {
	case len(body) == 0:
	case urlencoded:
		s[5] = formAlphabet(body)
	default:
		// JSON escapes, XML entities and quoted-printable parts decode to anything.
		lb := strings.ToLower(string(body))
		if s[4].has('\\') || s[4].has('&') || strings.Contains(lb, "quoted-printable") {
			s[5] = fullAlphabet
		} else {
			s[5] = decodedAlphabet(body).union(s[4])
		}
		// JSON argument names ("json.a.0.b") and re-formatted numbers
		s[5] = s[5].union(alphabetOf("json.0123456789eE+-"))
	}
	s[6] = alphabetOf(req.Method + " " + req.Proto + "HTTP/1.1")
	s[7] = alphabetOf("0123456789")
	return s
}

// needsEscaping reports whether url.URL.String could write the target differently.
func needsEscaping(u string) bool {
	for i := 0; i < len(u); i++ {
		c := u[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("-._~!$&'()*+,;=:@/?%", rune(c)) {
			return true
		}
	}
	return false
}

// formAlphabet is the decoded alphabet of the names and values of an
// application/x-www-form-urlencoded string: its '&' separators never reach a value.
func formAlphabet(q []byte) alphabet {
	var a alphabet
	for len(q) > 0 {
		i := 0
		for i < len(q) && q[i] != '&' {
			i++
		}
		a = a.union(decodedAlphabet(q[:i]))
		if i == len(q) {
			break
		}
		q = q[i+1:]
	}
	return a
}

func (c *check) alphabet(s *sourceSet) alphabet {
	if c.src&srcFull != 0 {
		return fullAlphabet
	}
	var a alphabet
	for i := 0; i < nSources; i++ {
		if c.src&(1<<i) != 0 {
			a = a.union(s[i])
		}
	}
	for _, t := range c.trans {
		a = a.union(transformAlphabet(t, a))
	}
	return a
}

// canMatch is false only when the rule provably cannot match over alphabet a.
func (c *check) canMatch(a alphabet) bool {
	if a.full() {
		return true
	}
	switch {
	case c.re != nil:
		return regexCanMatch(c.re, &a)
	case c.lits != nil:
		for _, l := range c.lits {
			if literalCanOccur(l, c.ci, &a) {
				return true
			}
		}
		return false
	case c.ranges != nil:
		for i := 0; i < 256; i++ {
			if a.has(byte(i)) && !c.ranges.has(byte(i)) {
				return true
			}
		}
		return false
	case c.urlEnc:
		return a.has('%')
	}
	return true
}

// removable returns the ids of rules that cannot match req.
func (g *gate) removable(req *Request) []int {
	s := sourceAlphabets(req)
	g.mu.Lock()
	ids, ok := g.cache[s]
	g.mu.Unlock()
	if ok {
		return ids
	}
	ids = []int{}
	for i := range g.checks {
		c := &g.checks[i]
		if !c.canMatch(c.alphabet(&s)) {
			ids = append(ids, c.id)
		}
	}
	g.mu.Lock()
	if len(g.cache) >= maxCache {
		g.cache = map[sourceSet][]int{}
	}
	g.cache[s] = ids
	g.mu.Unlock()
	return ids
}

func (g *gate) String() string { return fmt.Sprintf("gate(%d checks)", len(g.checks)) }
