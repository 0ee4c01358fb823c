package detect

import "strings"

// tokType is the class of an SQL token.
type tokType uint8

const (
	tNum     tokType = iota + 1
	tStr             // string literal; open when the value ends inside it
	tWord            // identifier or keyword without a class below
	tLiteral         // NULL, TRUE, FALSE, CURRENT_USER ...: a term no prose needs
	tLogic           // AND OR XOR && ||
	tNot             // NOT !
	tCmp             // = <> != < > <= >= <=> LIKE RLIKE REGEXP IS IN BETWEEN SOUNDS
	tArith           // + - * / % | & ^ ~ DIV MOD ::
	tKeyword         // clause and statement keywords (see sqlKeywords)
	tFunc            // a word followed by '('
	tVar             // @name, @@name
	tLParen
	tRParen
	tComma
	tSemi
	tComment // -- # or an unterminated /*: the rest of the value is ignored
	tDot
	tOther
)

type token struct {
	typ  tokType
	word string // lower-cased word for tWord/tKeyword/tFunc/tLiteral/tLogic/tCmp/tArith words
	open bool   // tStr: not terminated
	text string // tStr: content
}

// maxTokens bounds the tokens kept for one value: enough for any injection an application's
// query would still parse, and a hard stop for hostile values.
const maxTokens = 512

var sqlWordClass = map[string]tokType{
	"and": tLogic, "or": tLogic, "xor": tLogic, "not": tNot,
	"like": tCmp, "rlike": tCmp, "regexp": tCmp, "is": tCmp, "in": tCmp, "between": tCmp, "sounds": tCmp,
	"ilike": tCmp, "glob": tCmp, "similar": tCmp,
	"div": tArith, "mod": tArith, "binary": tNot, "collate": tArith,
	"null": tLiteral, "true": tLiteral, "false": tLiteral, "current_user": tLiteral, "session_user": tLiteral,
	"system_user": tLiteral, "user": tWord, "current_date": tLiteral, "localtime": tLiteral,
	"select": tKeyword, "union": tKeyword, "insert": tKeyword, "update": tKeyword, "delete": tKeyword,
	"drop": tKeyword, "create": tKeyword, "alter": tKeyword, "exec": tKeyword, "execute": tKeyword,
	"declare": tKeyword, "shutdown": tKeyword, "waitfor": tKeyword, "truncate": tKeyword, "grant": tKeyword,
	"revoke": tKeyword, "backup": tKeyword, "from": tKeyword, "where": tKeyword, "order": tKeyword,
	"group": tKeyword, "having": tKeyword, "limit": tKeyword, "offset": tKeyword, "into": tKeyword,
	"procedure": tKeyword, "values": tKeyword, "as": tKeyword, "distinct": tKeyword, "all": tKeyword,
	"top": tKeyword, "case": tKeyword, "when": tKeyword, "then": tKeyword, "else": tKeyword, "end": tKeyword,
	"by": tKeyword, "asc": tKeyword, "desc": tKeyword, "set": tKeyword, "if": tKeyword, "begin": tKeyword,
	"load": tKeyword, "handler": tKeyword, "call": tKeyword, "outfile": tKeyword, "dumpfile": tKeyword,
	"escape": tArith,
}

func isWordStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '$' || c >= 0x80
}

func isWordChar(c byte) bool { return isWordStart(c) || '0' <= c && c <= '9' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0 || c == 0xa0
}

// sqlTokens tokenizes s as MySQL/MSSQL/PostgreSQL/Oracle would read it, loosely: /**/ is
// whitespace, /*! ... */ is code (MySQL versioned comments), -- and # end the statement.
// versioned reports a /*! comment.
func sqlTokens(s string, out []token) (toks []token, versioned bool) {
	toks, versioned, _ = sqlTokensL(s, lowerASCII(s), out)
	return toks, versioned
}

// sqlTokensC is sqlTokens that also reports a closed /* */ comment (inline).
func sqlTokensC(s string, out []token) (toks []token, versioned, inline bool) {
	return sqlTokensL(s, lowerASCII(s), out)
}

// sqlTokensL is sqlTokensC with ls, s lower-cased (words are sliced from it), given by a
// caller that lower-cases a value once for all its tails.
func sqlTokensL(s, ls string, out []token) (toks []token, versioned, inline bool) {
	toks = out[:0]
	i := 0
	for i < len(s) && len(toks) < maxTokens {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if i+2 < len(s) && s[i+2] == '!' {
				versioned = true
				i += 3
				for i < len(s) && isDigit(s[i]) {
					i++
				}
				continue
			}
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				toks = append(toks, token{typ: tComment, word: "/*"})
				return toks, versioned, inline
			}
			inline = true
			i += end + 4
		case c == '*' && i+1 < len(s) && s[i+1] == '/':
			i += 2 // the end of a /*! comment
		case c == '-' && i+1 < len(s) && s[i+1] == '-' || c == '#':
			// to the end of the line: code may follow on the next one (-1#\nunion select)
			if nl := strings.IndexAny(s[i:], "\r\n"); nl >= 0 && strings.TrimSpace(s[i+nl:]) != "" {
				inline = true
				i += nl + 1
				continue
			}
			w, n := "#", 1
			if c == '-' {
				w, n = "--", 2
			}
			toks = append(toks, token{typ: tComment, word: w, text: commentTail(s[i+n:])})
			return toks, versioned, inline
		case c == '\'' || c == '"':
			j, closed := i+1, false
			for j < len(s) {
				if s[j] == '\\' && j+1 < len(s) {
					j += 2
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				j++
			}
			text := s[i+1 : j]
			if closed {
				text = s[i+1 : j-1]
			}
			toks = append(toks, token{typ: tStr, open: !closed, text: text})
			i = j
		case c == '`' || c == '[' && i+1 < len(s) && isWordStart(s[i+1]):
			close := byte('`')
			if c == '[' {
				close = ']'
			}
			j := strings.IndexByte(s[i+1:], close)
			if j < 0 {
				toks = append(toks, token{typ: tOther})
				i++
				continue
			}
			toks = append(toks, token{typ: tWord, word: ls[i+1 : i+1+j]})
			i += j + 2
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			j := i
			if c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X' || s[i+1] == 'b' || s[i+1] == 'B') {
				j += 2
				for j < len(s) && isHex(s[j]) {
					j++
				}
			} else {
				for j < len(s) && (isDigit(s[j]) || s[j] == '.') {
					j++
				}
				if j < len(s) && (s[j] == 'e' || s[j] == 'E') && j+1 < len(s) && (isDigit(s[j+1]) || (s[j+1] == '-' || s[j+1] == '+') && j+2 < len(s) && isDigit(s[j+2])) {
					j += 2
					for j < len(s) && isDigit(s[j]) {
						j++
					}
				}
			}
			if j < len(s) && isWordStart(s[j]) { // 1611abc: a word, not a number
				for j < len(s) && isWordChar(s[j]) {
					j++
				}
				toks = append(toks, token{typ: tWord, word: ls[i:j]})
			} else {
				toks = append(toks, token{typ: tNum})
			}
			i = j
		case c == '\\' && i+1 < len(s) && s[i+1] == 'N' && (i+2 >= len(s) || !isWordChar(s[i+2])):
			toks = append(toks, token{typ: tLiteral, word: "null"}) // MySQL's \N
			i += 2
		case c == '@':
			j := i + 1
			if j < len(s) && s[j] == '@' {
				j++
			}
			for j < len(s) && (isWordChar(s[j]) || s[j] == '.') {
				j++
			}
			toks = append(toks, token{typ: tVar, word: ls[i:j]})
			i = j
		case isWordStart(c):
			j := i
			for j < len(s) && (isWordChar(s[j]) || s[j] == '.' && j+1 < len(s) && isWordStart(s[j+1])) {
				j++
			}
			w := ls[i:j]
			// N'...', X'...', _utf8'...' are strings
			if j < len(s) && s[j] == '\'' && (w == "n" || w == "x" || w == "b" || w == "e" || strings.HasPrefix(w, "_")) {
				i = j
				continue
			}
			k := j
			for k < len(s) && isSpace(s[k]) {
				k++
			}
			typ, known := sqlWordClass[w]
			switch {
			case k < len(s) && s[k] == '(' && (!known || typ == tWord || typ == tLiteral || w == "if" || w == "values"):
				typ = tFunc
			case !known:
				typ = tWord
			}
			toks = append(toks, token{typ: typ, word: w})
			i = j
		case c == '(':
			toks = append(toks, token{typ: tLParen})
			i++
		case c == ')':
			toks = append(toks, token{typ: tRParen})
			i++
		case c == ',':
			toks = append(toks, token{typ: tComma})
			i++
		case c == ';':
			toks = append(toks, token{typ: tSemi})
			i++
		default:
			op, n := sqlOperator(s[i:])
			if n == 0 {
				toks = append(toks, token{typ: tOther, word: s[i : i+1]})
				i++
				continue
			}
			toks = append(toks, op)
			i += n
		}
	}
	return toks, versioned, inline
}

func sqlOperator(s string) (token, int) {
	two := ""
	if len(s) >= 3 && s[:3] == "<=>" {
		return token{typ: tCmp, word: "<=>"}, 3
	}
	if len(s) >= 2 {
		two = s[:2]
	}
	switch two {
	case "||", "&&":
		return token{typ: tLogic, word: two}, 2
	case "<>", "!=", "<=", ">=", "==", "!<", "!>":
		return token{typ: tCmp, word: two}, 2
	case ":=", "::", "<<", ">>":
		return token{typ: tArith, word: two}, 2
	}
	switch c := s[0]; c {
	case '=', '<', '>':
		return token{typ: tCmp, word: s[:1]}, 1
	case '!':
		return token{typ: tNot, word: "!"}, 1
	case '+', '-', '*', '/', '%', '|', '&', '^', '~':
		return token{typ: tArith, word: s[:1]}, 1
	case '.':
		return token{typ: tDot}, 1
	}
	return token{}, 0
}

// commentTail is "" when a comment is what ends a query ("--", "-- -", "#" and then nothing
// more), else what it comments out: "#2 MOM" is a number sign, "' --INFANT" a dash list.
func commentTail(s string) string {
	return strings.TrimLeft(s, " \t\r\n-+/*#;")
}
