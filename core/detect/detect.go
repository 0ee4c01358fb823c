package detect

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Kind is the family of a finding, named as the event kinds of DESIGN.md.
type Kind string

const (
	SQLi      Kind = "sqli"
	XSS       Kind = "xss"
	Traversal Kind = "traversal"
)

// Finding is one rule that a value triggered.
type Finding struct {
	Rule int    // 99xxx, see Rules
	Kind Kind   // sqli, xss, traversal
	Msg  string // what was seen
	Form string // the decoded form of the value the rule matched (not truncated)
}

// Rules describes every rule id this package emits, for documentation, the console and
// exclusion validation.
var Rules = map[int]string{
	RuleSQLiBoolean:     "SQL injection: leaves a string or number with a boolean or comparison expression",
	RuleSQLiUnion:       "SQL injection: UNION SELECT",
	RuleSQLiComment:     "SQL injection: closes a string and comments out the rest of the query",
	RuleSQLiStacked:     "SQL injection: stacked query (';' and a second statement)",
	RuleSQLiClause:      "SQL injection: leaves its context with ORDER BY, GROUP BY, HAVING, WHERE, LIMIT, INTO OUTFILE or PROCEDURE",
	RuleSQLiFunction:    "SQL injection: time-, file- or error-based function (sleep, benchmark, load_file, extractvalue, WAITFOR DELAY)",
	RuleSQLiSelect:      "SQL injection: SELECT of system values (@@version, current_user, information_schema)",
	RuleSQLiVersioned:   "SQL injection: MySQL versioned comment after leaving a string or number",
	RuleXSSTag:          "XSS: element that runs script (<script>, <iframe>, <svg>, <object> ...) or closes a script context",
	RuleXSSHandler:      "XSS: event handler attribute in a tag",
	RuleXSSURL:          "XSS: javascript:, vbscript: or data:text/html URL",
	RuleXSSAttrBreak:    "XSS: leaves an attribute value and adds an event handler",
	RuleXSSScript:       "XSS: leaves a script context and calls a sink (alert, eval, document.cookie ...)",
	RuleXSSStyle:        "XSS: CSS that runs script (expression(), behavior:, -moz-binding)",
	RuleXSSProbe:        "XSS probe: the value is an event handler attribute name",
	RuleXSSEncodedProbe: "XSS probe: the value is only an encoded '<' or '>' (entity, percent or JavaScript escape)",
	RuleTraversalDotDot: "path traversal: dot-dot segments after decoding (URL, double URL, %u, overlong UTF-8, look-alikes)",
	RuleTraversalFile:   "path traversal: path to a system file (etc/passwd, win.ini, proc/self ...)",
	RuleTraversalAbs:    "path traversal: absolute path into a system directory",
	RuleTraversalScheme: "path traversal: file-reading stream wrapper (file://, php://filter ...)",
}

// KindOf returns the family of a rule id of this package, "" for any other id.
func KindOf(rule int) Kind {
	switch rule / 100 {
	case 991:
		return SQLi
	case 992:
		return XSS
	case 993:
		return Traversal
	}
	return ""
}

// Ours says whether rule is an id of this package.
func Ours(rule int) bool { return Rules[rule] != "" }

type scratch struct {
	vars []string
	sql  sqlScan
}

var pool = sync.Pool{New: func() any { return &scratch{vars: make([]string, 0, 16)} }}

// Check analyses one request value (a parameter, cookie or header value as the application
// receives it, already decoded once) and returns at most one finding per family. It is safe
// for concurrent use; its work is linear in len(v) (capped at 16 KiB) times a fixed number of
// decoding rounds.
func Check(v string) []Finding {
	if len(v) < 2 || plain(v) {
		return nil
	}
	return analyse(v)
}

// analyse is Check without the plain-value shortcut.
func analyse(v string) []Finding {
	if len(v) > maxValue {
		// long values are read in overlapping windows, so padding does not hide a payload
		// and the work stays linear in len(v)
		for off := 0; off < len(v); off += maxValue - windowOverlap {
			end := min(off+maxValue, len(v))
			if f := analyse(v[off:end]); len(f) > 0 {
				return f
			}
			if end == len(v) {
				break
			}
		}
		return nil
	}
	sc := pool.Get().(*scratch)
	defer pool.Put(sc)
	sc.vars = variants(v, sc.vars)
	var out []Finding
	var sqlDone, xssDone, travDone bool
	for _, f := range sc.vars {
		lf := lowerASCII(f)
		if !sqlDone {
			if r, m := sc.sql.check(f, lf); r != 0 {
				out = append(out, Finding{Rule: r, Kind: SQLi, Msg: m, Form: f})
				sqlDone = true
			}
		}
		if !xssDone {
			if r, m := (xssScan{}).check(f, lf); r != 0 {
				out = append(out, Finding{Rule: r, Kind: XSS, Msg: m, Form: f})
				xssDone = true
			}
		}
		if !travDone {
			if r, m := (travScan{}).check(f, lf); r != 0 {
				out = append(out, Finding{Rule: r, Kind: Traversal, Msg: m, Form: f})
				travDone = true
			}
		}
	}
	if !xssDone && handlerProbe(v) {
		out = append(out, Finding{Rule: RuleXSSProbe, Kind: XSS, Msg: "event handler name " + strings.TrimSpace(v), Form: v})
		xssDone = true
	}
	if !xssDone && encodedAngle(v, sc.vars) {
		out = append(out, Finding{Rule: RuleXSSEncodedProbe, Kind: XSS, Msg: "encoded angle bracket alone", Form: v})
	}
	if !travDone {
		if d := b64Path(strings.TrimSpace(v)); d != "" && utf8.ValidString(d) {
			if r, m := (travScan{}).check(d, lowerASCII(d)); r != 0 {
				out = append(out, Finding{Rule: r, Kind: Traversal, Msg: m + " (base64)", Form: d})
			}
		}
	}
	return out
}

// SQLClean says whether no decoded form of v reads as SQL injection to this package: the
// precise second opinion the waf package asks before it lets a noisy CRS rule's match on v
// count.
func SQLClean(v string) bool {
	if len(v) > maxValue {
		return false // a veto needs the whole value read at once: no opinion
	}
	sc := pool.Get().(*scratch)
	defer pool.Put(sc)
	sc.vars = variants(v, sc.vars)
	for _, f := range sc.vars {
		if r, _ := sc.sql.check(f, lowerASCII(f)); r != 0 {
			return false
		}
	}
	return true
}

// plain says whether v holds only letters, digits, spaces and harmless punctuation (',', '-',
// and '.' between words) without
// any SQL word that could start an injection, so no rule can match (the common case of
// benign traffic, answered without decoding).
func plain(v string) bool {
	dots := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '.' {
			dots = true
			continue
		}
		if !(isWordChar(c) && c < 0x80 || c == ' ' || c == '-' || c == ',') {
			return false
		}
	}
	// a dot matters in one word (boot.ini, web.config) or doubled (..2f), not in a sentence
	if dots && (strings.IndexByte(strings.TrimSpace(v), ' ') < 0 || strings.Contains(v, "..")) {
		return false
	}
	// with these characters SQL needs a comment, UNION/SELECT, or a value that starts (after
	// a number) with a keyword: " or true", "ORDER BY 1", "5 AND 1"
	lv := lowerASCII(v)
	if strings.Contains(lv, "--") || strings.Contains(lv, "union") || strings.Contains(lv, "select") {
		return false
	}
	w := strings.TrimLeft(lv, " -")
	w = strings.TrimLeft(w, "0123456789.")
	w = strings.TrimLeft(w, " ")
	for _, k := range []string{"or ", "and ", "xor ", "order ", "group ", "having ", "limit ", "waitfor ", "procedure "} {
		if strings.HasPrefix(w, k) || w == strings.TrimSpace(k) {
			return false
		}
	}
	return !handlerProbe(v)
}

// SQLText says whether v reads as text rather than SQL: no decoded form triggers a rule of
// this package, and none holds the syntax that only queries carry (comments, function calls,
// parentheses, variables, ';', query keywords such as SELECT, UNION, FROM, WHERE). It is the
// precise second opinion the waf package asks before it lets a match of a CRS rule that is
// noisy on ordinary text count against v.
func SQLText(v string) bool {
	if len(v) > maxValue {
		return false // not fully analysed: no opinion
	}
	sc := pool.Get().(*scratch)
	defer pool.Put(sc)
	sc.vars = variants(v, sc.vars)
	for _, f := range sc.vars {
		if r, _ := sc.sql.check(f, lowerASCII(f)); r != 0 {
			return false
		}
		for _, tail := range []string{f, afterQuote(f, '\''), afterQuote(f, '"')} {
			toks, versioned, inline := sqlTokensC(tail, sc.sql.toks)
			sc.sql.toks = toks
			if versioned || inline || sqlSyntax(toks) {
				return false
			}
		}
	}
	return true
}

// sqlSyntax says whether t holds a construct of query syntax rather than of prose.
func sqlSyntax(t []token) bool {
	for i, x := range t {
		switch x.typ {
		case tComment, tFunc, tVar, tSemi, tLParen, tRParen:
			return true
		case tKeyword:
			switch x.word {
			case "select", "union", "from", "where", "having", "limit", "into", "case", "when", "exec", "execute", "waitfor", "declare", "procedure", "insert", "delete", "update", "drop":
				return true
			case "order", "group":
				if i+1 < len(t) && t[i+1].word == "by" {
					return true
				}
			}
		case tCmp:
			// a comparison between literals: 1=1, 'a'='a', x LIKE 'y'
			if x.word != "in" && x.word != "is" && i > 0 && i+1 < len(t) && (t[i-1].typ == tNum || t[i-1].typ == tStr && !t[i-1].open || t[i-1].typ == tRParen) {
				return true
			}
		}
	}
	return false
}

// CheckPath analyses a request path as sent (still percent-encoded) for dot-dot segments
// only: a path is where system-looking names (/home/..., /etc/...) are ordinary routes, so
// the value checks for system files and absolute paths do not apply to it. It returns at most
// one finding.
func CheckPath(raw string) []Finding {
	if strings.IndexByte(raw, '.') < 0 && strings.IndexByte(raw, '%') < 0 && strings.IndexByte(raw, '\\') < 0 {
		return nil
	}
	sc := pool.Get().(*scratch)
	defer pool.Put(sc)
	if len(raw) > maxValue {
		raw = raw[:maxValue]
	}
	sc.vars = variants(raw, sc.vars)
	for _, f := range sc.vars {
		if r, m := dotdot(normPath(f)); r != 0 {
			return []Finding{{Rule: r, Kind: Traversal, Msg: m + " in the path", Form: f}}
		}
	}
	return nil
}
