package detect

import "strings"

// SQL injection rule ids (see Rules for the messages).
const (
	RuleSQLiBoolean   = 99101 // leaves a string or number with a boolean or comparison expression
	RuleSQLiUnion     = 99102 // UNION [ALL] SELECT
	RuleSQLiComment   = 99103 // closes a string and comments out the rest of the query
	RuleSQLiStacked   = 99104 // ; and a second statement
	RuleSQLiClause    = 99105 // leaves its context with ORDER BY, GROUP BY, HAVING, WHERE, LIMIT, INTO, PROCEDURE
	RuleSQLiFunction  = 99106 // time-, file- or error-based function call (sleep, benchmark, load_file ...)
	RuleSQLiSelect    = 99107 // SELECT of system values (@@version, *, current_user, function calls)
	RuleSQLiVersioned = 99108 // MySQL /*! versioned comment */
)

// sqlDangerousFuncs have no use in a value a person types: they wait, read files or raise
// errors carrying data.
var sqlDangerousFuncs = map[string]bool{
	"sleep": true, "benchmark": true, "pg_sleep": true, "load_file": true, "extractvalue": true,
	"updatexml": true, "xp_cmdshell": true, "sp_executesql": true, "sp_oacreate": true, "name_const": true,
	"sys_eval": true, "sys_exec": true, "utl_inaddr.get_host_address": true, "utl_http.request": true,
	"dbms_pipe.receive_message": true, "dbms_lock.sleep": true, "randomblob": true, "exp": false,
	"geometrycollection": true, "multipoint": true, "polygon": true, "linestring": true,
	"pg_read_file": true, "lo_import": true, "dblink": true, "openrowset": true, "opendatasource": true,
	"ctxsys.drithsx.sn": true, "dbms_xmlgen.getxml": true, "xmltype": true, "extractvalue_": false,
	"group_concat": true, "information_schema": true, "concat_ws": true, "make_set": true,
}

// statement keywords that may follow a ';' in a stacked query.
var sqlStatements = map[string]bool{
	"select": true, "insert": true, "update": true, "delete": true, "drop": true, "create": true,
	"alter": true, "exec": true, "execute": true, "declare": true, "shutdown": true, "waitfor": true,
	"truncate": true, "grant": true, "revoke": true, "backup": true, "set": true, "if": true,
	"begin": true, "call": true, "load": true, "handler": true, "union": true,
}

type sqlCtx uint8

const (
	ctxBare  sqlCtx = iota // the value is spliced into SQL as is
	ctxNum                 // the value starts as a number
	ctxQuote               // the value starts inside a quoted string
)

type sqlScan struct {
	toks []token
}

// check reports the first SQL injection rule v triggers, with its message, or 0. lv is v
// lower-cased (every context's tail is a suffix of v, so of lv too).
func (s *sqlScan) check(v, lv string) (int, string) {
	for _, ctx := range []struct {
		c    sqlCtx
		tail string
		pre  string
	}{
		{ctxBare, v, ""},
		{ctxNum, numTail(v), ""},
		{ctxQuote, afterQuote(v, '\''), beforeQuote(v, '\'')},
		{ctxQuote, afterQuote(v, '"'), beforeQuote(v, '"')},
		{ctxQuote, afterQuote(v, '`'), beforeQuote(v, '`')},
	} {
		if ctx.c != ctxBare && ctx.tail == "" && (ctx.c == ctxNum || !strings.ContainsAny(v, "'\"`")) {
			continue
		}
		var versioned bool
		s.toks, versioned, _ = sqlTokensL(ctx.tail, lv[len(v)-len(ctx.tail):], s.toks)
		if versioned && ctx.c != ctxBare {
			return RuleSQLiVersioned, "MySQL versioned comment after leaving a string or number"
		}
		if r, m := judgeTail(s.toks, ctx.c, ctx.pre); r != 0 {
			return r, m
		}
		if r, m := anywhere(s.toks); r != 0 {
			return r, m
		}
	}
	return 0, ""
}

// numTail returns what follows a leading number (with sign and closing parens kept in the
// tail), or "" when v does not start with a number.
func numTail(v string) string {
	i := 0
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	j := i
	if j+1 < len(v) && v[j] == '0' && (v[j+1] == 'x' || v[j+1] == 'X') {
		j += 2
		for j < len(v) && isHex(v[j]) {
			j++
		}
	} else {
		for j < len(v) && (isDigit(v[j]) || v[j] == '.') {
			j++
		}
	}
	if j == i || j < len(v) && isWordChar(v[j]) && !(j+1 < len(v) && !isWordChar(v[j+1]) && false) {
		if j == i || j < len(v) && isWordChar(v[j]) {
			// "1or 1=1" is valid MySQL, but "1st" and "24x7" are words; only a following
			// keyword-free letter run counts as part of the number
			if j == i {
				return ""
			}
			k := j
			for k < len(v) && isWordChar(v[k]) {
				k++
			}
			if c, ok := sqlWordClass[strings.ToLower(v[j:k])]; !ok || c != tLogic {
				return ""
			}
		}
	}
	return v[j:]
}

func afterQuote(v string, q byte) string {
	i := strings.IndexByte(v, q)
	if i < 0 {
		return ""
	}
	return v[i+1:]
}

func beforeQuote(v string, q byte) string {
	i := strings.IndexByte(v, q)
	if i < 0 {
		return ""
	}
	return v[:i]
}

// judgeTail looks at what comes right after the point where the value leaves its context.
func judgeTail(t []token, ctx sqlCtx, prefix string) (int, string) {
	k := 0
	closed := 0
	for k < len(t) && t[k].typ == tRParen {
		k++
		closed++
	}
	if k >= len(t) {
		return 0, ""
	}
	simplePrefix := !strings.ContainsAny(strings.TrimLeft(prefix, " \t\r\n"), " \t\r\n,.;:!?")
	first := t[k]
	rest := t[k+1:]
	switch first.typ {
	case tComment:
		if (ctx == ctxQuote || closed > 0 && ctx == ctxNum) && simplePrefix && first.text == "" {
			return RuleSQLiComment, "leaves a string and comments out the rest of the query"
		}
	case tSemi:
		if len(rest) > 0 && stackedStatement(rest) {
			return RuleSQLiStacked, "stacked query: ';' and a second statement"
		}
	case tLogic:
		if ctx == ctxBare && first.word != "or" && first.word != "and" && first.word != "||" && first.word != "xor" && first.word != "&&" {
			return 0, ""
		}
		ev, ok := expression(rest)
		if !ok {
			return 0, ""
		}
		strong := ev.cmp || ev.fn || ev.sub || ev.comment || ev.vars || ev.boolLit
		weak := ev.lit
		if ctx == ctxQuote && (strong || weak && simplePrefix) || strong {
			return RuleSQLiBoolean, "leaves its context with a boolean expression (" + first.word + ")"
		}
	case tCmp, tArith:
		if ctx != ctxQuote {
			return 0, ""
		}
		// '-' , '=' , ' LIKE ' : an operator and a re-opened empty string
		if len(rest) >= 1 && rest[0].typ == tStr && rest[0].open && strings.TrimSpace(rest[0].text) == "" && len(rest) == 1 {
			if simplePrefix {
				return RuleSQLiBoolean, "leaves a string with an operator and re-opens it"
			}
			return 0, ""
		}
		ev, ok := expression(rest)
		if ok && (ev.logic && (ev.cmp || ev.lit) || ev.comment && ev.lit || ev.fn || ev.sub) {
			return RuleSQLiBoolean, "leaves a string with an expression"
		}
		// x' = 'y, aa'!='1, 1'*column is null - ': an operator expression that re-opens the
		// string the application closes, after a one-word prefix; the re-opened text is one
		// word too ("IS" STAMP is a quoted word in a phrase)
		if ok && simplePrefix && strings.TrimSpace(prefix) != "" {
			if last := rest[len(rest)-1]; last.typ == tStr && last.open && !strings.ContainsAny(strings.TrimSpace(last.text), " \t\r\n") {
				return RuleSQLiBoolean, "leaves a string with an operator and re-opens it"
			}
		}
	case tKeyword:
		if (ctx == ctxQuote || ctx == ctxBare) && stackedStatement(t[k:]) {
			if ctx == ctxBare {
				return RuleSQLiStacked, "an SQL statement (" + first.word + ")"
			}
			return RuleSQLiStacked, "a second statement after leaving its context"
		}
		return clause(first, rest, ctx)
	case tComma:
		if ctx == ctxBare && closed == 0 {
			return 0, ""
		}
		if len(rest) > 0 && (rest[0].typ == tLParen && len(rest) > 1 && rest[1].typ == tKeyword && rest[1].word == "select" ||
			rest[0].typ == tFunc && (sqlDangerousFuncs[rest[0].word] || rest[0].word == "if")) {
			return RuleSQLiClause, "leaves its context with a sub-select or function in a list"
		}
	}
	return 0, ""
}

func stackedStatement(rest []token) bool {
	w := rest[0]
	if w.typ != tKeyword && w.typ != tFunc || !sqlStatements[w.word] {
		return false
	}
	if len(rest) < 2 {
		return w.word == "shutdown"
	}
	n := rest[1]
	word := func(i int) string {
		if i < len(rest) {
			return rest[i].word
		}
		return ""
	}
	switch w.word {
	case "exec", "execute":
		return n.typ == tVar || n.typ == tLParen || (n.typ == tFunc || n.typ == tWord) && (strings.HasPrefix(n.word, "xp_") || strings.HasPrefix(n.word, "sp_") || strings.HasPrefix(n.word, "master.") || strings.HasPrefix(n.word, "master"))
	case "declare", "set":
		return n.typ == tVar
	case "waitfor":
		return n.typ == tWord && (n.word == "delay" || n.word == "time")
	case "if":
		return w.typ == tFunc
	case "select":
		if n.typ == tArith && n.word == "*" || n.typ == tVar || n.typ == tFunc || n.typ == tLiteral {
			return true
		}
		ev, ok := expression(rest[1:])
		return ok && (ev.fn || ev.sub || ev.cmp || ev.lit && len(rest) <= 3)
	case "insert":
		return n.word == "into" && len(rest) > 3
	case "update":
		return n.typ == tWord && word(2) == "set"
	case "delete":
		return n.word == "from" && len(rest) > 2
	case "drop", "create", "alter", "truncate":
		switch n.word {
		case "table", "database", "procedure", "function", "user", "view", "index", "schema", "login", "trigger", "column":
			return len(rest) > 2 && (rest[2].typ == tWord || rest[2].typ == tFunc)
		}
		return false
	case "grant", "revoke":
		return len(rest) > 2 && (word(2) == "to" || word(2) == "on" || word(3) == "to" || word(3) == "on")
	case "backup":
		return n.word == "database" || n.word == "log"
	case "shutdown":
		return n.typ == tComment || n.typ == tSemi || n.word == "with"
	case "union":
		return isUnionSelect(rest[1:])
	case "load":
		return n.word == "data" || n.word == "xml"
	}
	return false
}

// clause judges a tail that starts with a keyword.
func clause(first token, rest []token, ctx sqlCtx) (int, string) {
	switch first.word {
	case "union":
		if isUnionSelect(rest) {
			return RuleSQLiUnion, "UNION SELECT"
		}
	case "order", "group":
		if len(rest) >= 2 && rest[0].word == "by" {
			a := rest[1]
			switch {
			case a.typ == tNum || a.typ == tFunc || a.typ == tLParen || a.typ == tVar:
				if ctx == ctxBare && a.typ == tNum && len(rest) == 2 {
					return RuleSQLiClause, first.word + " BY a column number"
				}
				return RuleSQLiClause, first.word + " BY after leaving its context"
			case ctx != ctxBare && len(rest) >= 3 && (rest[2].typ == tComment || rest[2].typ == tComma || rest[2].typ == tKeyword):
				return RuleSQLiClause, first.word + " BY after leaving its context"
			}
		}
	case "having", "where":
		if ev, ok := expression(rest); ok && ev.cmp {
			return RuleSQLiClause, strings.ToUpper(first.word) + " clause after leaving its context"
		}
	case "limit":
		if ctx != ctxBare && len(rest) >= 1 && rest[0].typ == tNum && (len(rest) == 1 || rest[1].typ == tComma || rest[1].typ == tComment || rest[1].typ == tKeyword) {
			return RuleSQLiClause, "LIMIT after leaving its context"
		}
	case "into":
		if len(rest) >= 1 && (rest[0].word == "outfile" || rest[0].word == "dumpfile") {
			return RuleSQLiClause, "INTO OUTFILE"
		}
	case "procedure":
		if len(rest) >= 1 && rest[0].typ == tFunc {
			return RuleSQLiClause, "PROCEDURE call"
		}
	case "as":
		// " AS alias WHERE ..." (a table alias, then a clause)
		if len(rest) >= 2 && rest[0].typ == tWord && rest[1].typ == tKeyword {
			return clause(rest[1], rest[2:], ctx)
		}
	case "select":
		if ctx != ctxBare {
			if ev, ok := expression(rest); ok && (ev.fn || ev.vars || ev.cmp || ev.sub) {
				return RuleSQLiSelect, "SELECT after leaving its context"
			}
		}
	case "waitfor":
		if len(rest) >= 2 && (rest[0].word == "delay" || rest[0].word == "time") && rest[1].typ == tStr {
			return RuleSQLiFunction, "WAITFOR DELAY"
		}
	}
	return 0, ""
}

func isUnionSelect(rest []token) bool {
	for i, n := 0, 0; i < len(rest) && n < 4; i++ {
		switch t := rest[i]; {
		case t.typ == tKeyword && (t.word == "all" || t.word == "distinct"):
		case t.typ == tLParen:
		case t.typ == tKeyword && t.word == "select", t.typ == tFunc && t.word == "select":
			return true
		default:
			return false
		}
		n++
	}
	return false
}

// anywhere finds constructs that are SQL wherever they appear in a value.
func anywhere(t []token) (int, string) {
	for i := 0; i < len(t); i++ {
		x := t[i]
		switch {
		case x.typ == tKeyword && x.word == "union" && isUnionSelect(t[i+1:]):
			return RuleSQLiUnion, "UNION SELECT"
		case x.typ == tSemi && i+1 < len(t) && stackedStatement(t[i+1:]):
			return RuleSQLiStacked, "stacked query: ';' and a second statement"
		case x.typ == tFunc && sqlDangerousFuncs[x.word] && i+2 < len(t) && t[i+1].typ == tLParen && t[i+2].typ != tRParen:
			return RuleSQLiFunction, "call of " + x.word + "()"
		case x.typ == tKeyword && x.word == "waitfor" && i+2 < len(t) && (t[i+1].word == "delay" || t[i+1].word == "time") && t[i+2].typ == tStr:
			return RuleSQLiFunction, "WAITFOR DELAY"
		case x.typ == tKeyword && x.word == "select" && i+1 < len(t):
			n := t[i+1]
			if n.typ == tKeyword && (n.word == "top" || n.word == "distinct" || n.word == "all") && i+2 < len(t) {
				n = t[i+2]
			}
			if n.typ == tVar && strings.HasPrefix(n.word, "@@") || n.typ == tArith && n.word == "*" && hasFrom(t[i+2:]) ||
				n.typ == tLiteral && n.word != "null" && n.word != "true" && n.word != "false" || n.typ == tFunc && sqlInfoFunc(n.word) {
				return RuleSQLiSelect, "SELECT of system values"
			}
		case x.typ == tVar && strings.HasPrefix(x.word, "@@") && len(x.word) > 3 && (i > 0 && (t[i-1].typ == tLogic || t[i-1].typ == tCmp || t[i-1].typ == tLParen || t[i-1].typ == tComma)):
			return RuleSQLiSelect, "server variable " + x.word
		case x.typ == tWord && (strings.HasPrefix(x.word, "information_schema.") || x.word == "information_schema") && i > 0 && t[i-1].typ == tKeyword && t[i-1].word == "from":
			return RuleSQLiSelect, "FROM information_schema"
		}
	}
	return 0, ""
}

func hasFrom(t []token) bool {
	return len(t) > 1 && t[0].typ == tKeyword && t[0].word == "from" && (t[1].typ == tWord || t[1].typ == tFunc)
}

func sqlInfoFunc(w string) bool {
	switch w {
	case "version", "database", "user", "current_user", "system_user", "schema", "db_name", "user_name",
		"host_name", "suser_name", "session_user", "load_file", "sleep", "benchmark", "pg_sleep", "count",
		"concat", "group_concat", "char", "ascii", "substring", "substr", "mid", "if", "case", "cast", "convert":
		return true
	}
	return false
}

// evidence is what an expression contained.
type evidence struct {
	cmp, fn, sub, comment, vars, lit, boolLit, logic, emptyOpen bool
}

// expression walks t as an SQL expression (operand, operator, operand ...) and says whether
// it is well formed up to its end, a comment, a ';' or a clause keyword, and what it held.
// Two operands in a row ("all natural skin care") are not SQL.
func expression(t []token) (evidence, bool) {
	var ev evidence
	want := true // an operand
	depth := 0
	for i := 0; i < len(t); i++ {
		x := t[i]
		if want {
			switch x.typ {
			case tNum:
				ev.lit = true
			case tStr:
				ev.lit = true
				if x.open && strings.TrimSpace(x.text) == "" {
					ev.emptyOpen = true
				}
			case tLiteral:
				ev.lit = true
				ev.boolLit = true
			case tVar:
				ev.vars = true
			case tWord:
			case tFunc:
				ev.fn = true
				i = skipCall(t, i+1)
			case tLParen:
				depth++
				continue
			case tNot, tArith:
				if x.typ == tArith && x.word != "-" && x.word != "+" && x.word != "~" {
					return ev, false
				}
				continue
			case tKeyword:
				switch x.word {
				case "select":
					ev.sub = true
					return ev, true
				case "case":
					for _, y := range t[i+1:] {
						if y.word == "when" {
							ev.fn = true
							return ev, true
						}
					}
					return ev, false
				}
				return ev, false
			default:
				return ev, false
			}
			want = false
			continue
		}
		switch x.typ {
		case tCmp:
			ev.cmp = true
			if x.word == "is" && i+1 < len(t) && t[i+1].typ == tNot {
				i++
			}
			if x.word == "sounds" && i+1 < len(t) && t[i+1].word == "like" {
				i++
			}
			want = true
		case tNot: // NOT LIKE, NOT IN, NOT BETWEEN, NOT REGEXP
			if i+1 < len(t) && t[i+1].typ == tCmp {
				continue
			}
			return ev, false
		case tArith:
			want = true
		case tLogic:
			ev.logic = true
			want = true
		case tRParen:
			depth--
		case tComment:
			ev.comment = true
			return ev, true
		case tSemi:
			return ev, true
		case tKeyword:
			switch x.word {
			case "union", "order", "group", "having", "limit", "into", "procedure", "from", "where", "offset":
				return ev, true
			}
			return ev, ev.cmp && ev.logic
		case tComma:
			want = true
		case tStr:
			// 'a' 'b' is one string in MySQL
			if t[i-1].typ != tStr {
				return ev, ev.cmp && ev.logic
			}
		default:
			// a complete comparison, then junk the query's own text will follow
			return ev, ev.cmp && ev.logic
		}
	}
	return ev, !want
}

// skipCall returns the index of the ')' closing the call whose '(' is at t[i], or the last
// token when it is not closed.
func skipCall(t []token, i int) int {
	depth := 0
	for ; i < len(t); i++ {
		switch t[i].typ {
		case tLParen:
			depth++
		case tRParen:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(t) - 1
}
