package detect

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func first(fs []Finding, k Kind) int {
	for _, f := range fs {
		if f.Kind == k {
			return f.Rule
		}
	}
	return 0
}

// TestRulesFire shows each rule on a value of its shape, plain and encoded the ways the
// decoder undoes (double URL, %u, overlong UTF-8, entities, JavaScript escapes).
func TestRulesFire(t *testing.T) {
	cases := []struct {
		v    string
		kind Kind
		rule int
	}{
		{"1' or '1'='1", SQLi, RuleSQLiBoolean},
		{"admin\" OR 1=1 #", SQLi, RuleSQLiBoolean},
		{"5 AND 7=7", SQLi, RuleSQLiBoolean},
		{" or true--", SQLi, RuleSQLiBoolean},
		{"x') or ('a'='a", SQLi, RuleSQLiBoolean},
		{"abc' != 'b", SQLi, RuleSQLiBoolean},
		{"1'*column is \\N or '1", SQLi, RuleSQLiBoolean},
		{"1%2527%2520or%25201%253D1--", SQLi, RuleSQLiBoolean}, // double URL-encoded
		{"-1 UNION ALL SELECT username, password FROM users", SQLi, RuleSQLiUnion},
		{"1/**/uNiOn/**/sElEcT/**/1,2", SQLi, RuleSQLiUnion},
		{"admin'--", SQLi, RuleSQLiComment},
		{"admin')#", SQLi, RuleSQLiComment},
		{"1; DROP TABLE users", SQLi, RuleSQLiStacked},
		{"x'; exec xp_cmdshell 'dir'--", SQLi, RuleSQLiStacked},
		{" ORDER BY 3--", SQLi, RuleSQLiClause},
		{"1' GROUP BY 1,2--", SQLi, RuleSQLiClause},
		{"1 AND sleep(5)", SQLi, RuleSQLiFunction},
		{"x' || pg_sleep(10)--", SQLi, RuleSQLiBoolean},
		{"benchmark(5000000,md5(1))", SQLi, RuleSQLiFunction},
		{"1 waitfor delay '0:0:5'", SQLi, RuleSQLiFunction},
		{"select @@version", SQLi, RuleSQLiStacked},
		{"x' and 1=(select @@version)--", SQLi, RuleSQLiBoolean},
		{"(select @@version)", SQLi, RuleSQLiSelect},
		{"1'/*!50000union*/", SQLi, RuleSQLiVersioned},

		{"<script>alert(1)</script>", XSS, RuleXSSTag},
		{"<svg/onload=alert(1)>", XSS, RuleXSSTag},
		{"%253Cscript%253E", XSS, RuleXSSTag},
		{"<img src=x onerror=alert(1)>", XSS, RuleXSSHandler},
		{"<a href=\"jav&#x09;ascript:void(0)\">x</a>", XSS, RuleXSSURL},
		{"<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;void(0)\">", XSS, RuleXSSURL},
		{"javascript:alert(document.domain)", XSS, RuleXSSURL},
		{"\" autofocus onfocus=alert(1) x=\"", XSS, RuleXSSAttrBreak},
		{"';alert(String.fromCharCode(88,83,83))//", XSS, RuleXSSScript},
		{"\\u003cimg src=x onerror=alert(1)\\u003e", XSS, RuleXSSAttrBreak},
		{"<div style=\"width: expression(alert(1))\">", XSS, RuleXSSStyle},
		{"\"+document.cookie+\"", XSS, RuleXSSScript},
		{"onmouseover", XSS, RuleXSSProbe},
		{"&#x0003C;", XSS, RuleXSSEncodedProbe},

		{"../../../etc/passwd", Traversal, RuleTraversalDotDot},
		{"..%2f..%2f..%2fetc%2fpasswd", Traversal, RuleTraversalDotDot},
		{"%c0%ae%c0%ae/%c0%ae%c0%ae/index.php", Traversal, RuleTraversalDotDot},
		{"%uff0e%uff0e%u2215%uff0e%uff0e%u2215etc%u2215passwd", Traversal, RuleTraversalDotDot},
		{"....//....//etc/hosts", Traversal, RuleTraversalDotDot},
		{"/etc/shadow", Traversal, RuleTraversalFile},
		{"C:\\boot.ini", Traversal, RuleTraversalFile},
		{"/proc/self/environ", Traversal, RuleTraversalFile},
		{"/var/run/mysqld/mysqld.pid", Traversal, RuleTraversalAbs},
		{"/opt/app/config.yml", Traversal, RuleTraversalAbs},
		{"/home/deploy/.ssh/known_hosts", Traversal, RuleTraversalAbs},
		{"/tmp/app.log", Traversal, RuleTraversalAbs},
		{"/root/notes", Traversal, RuleTraversalAbs},
		{"php://filter/convert.base64-encode/resource=index.php", Traversal, RuleTraversalScheme},
		{"Li4vLi4vLi4vZXRjL3Bhc3N3ZA==", Traversal, RuleTraversalDotDot}, // base64 of ../../../etc/passwd
	}
	for _, c := range cases {
		got := first(Check(c.v), c.kind)
		if got != c.rule {
			t.Errorf("%q: %s rule %d, want %d (all: %+v)", c.v, c.kind, got, c.rule, Check(c.v))
		}
		if !Ours(c.rule) || KindOf(c.rule) != c.kind {
			t.Errorf("rule %d: Ours/KindOf disagree with %s", c.rule, c.kind)
		}
	}
}

// TestBenignValues are values ordinary users send that look a little like attacks: quotes in
// names, operators in measurements, on* words, script names in prose, relative links.
func TestBenignValues(t *testing.T) {
	for _, v := range []string{
		"O'Brien", "rock 'n' roll", "it's a dog's life", "5' - 6'", `MATS 5" BY 7"`, "1950's dresses",
		"Tom & Jerry", "x < y and y > z", "24-7-TEAM", "1/26/11", "3 TO 6 MONTHS", "order by price",
		"select the best one from the list", "Drop me a line", "and then there were none",
		"JavaScript: The Good Parts (2008)", "online", "onion rings", "the onset of winter",
		"../img/logo.png", "docs/readme.md", "https://example.com/a?b=c&d=e", "a@b.example",
		"you're entirely bonkers; but I'll tell you a secret", "If not, write to the Free Software Foundation",
		"C'est la vie -- said she", "price >= 10", "<b>bold</b> and <i>italic</i>", "me & you = us",
		"Use 'quotes' or \"double quotes\"", "100% cotton", "#2 pencil", "email me at x--y@example.com",
		`{"a": "b", "c": [1, 2]}`, "#include <set>", "What is document.cookie?", `SMALL "&" SIGN`, `"IS" STAMP`, "Rock 'n' Roll", "Map<String, Integer>", "SGVsbG8gd29ybGQhIQ==", "etc. hosts of people", "/usr is a directory",
		// application routes in redirect / "next" parameters, under names Unix also uses
		"/home/feed", "/home/user/docs", "/dev/docs/getting-started", "/lib/app.js", "/opt/in?ref=mail",
		"/tmp/upload-42", "/var/news/2026", "/srv/status", "/bin/list", "/usr/profile/7",
	} {
		if fs := Check(v); len(fs) > 0 {
			t.Errorf("benign %q flagged: %+v", v, fs)
		}
	}
}

// TestCheckPath: dot-dot segments in a raw path in any encoding; routes that look like
// system directories are not traversal.
func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/static/..%c0%af..%c0%afetc/passwd", "/a/%2e%2e/%2e%2e/%2e%2e/x", "/files/..%5c..%5cwin.ini", "/x/..;/..;/admin"} {
		if fs := CheckPath(p); len(fs) != 1 || fs[0].Rule != RuleTraversalDotDot {
			t.Errorf("%q: %+v", p, fs)
		}
	}
	for _, p := range []string{"/home/user/settings", "/etc/passwd-guide.html", "/docs/v1.2/..x", "/a.b.c/d", "/search", "/files/report..pdf"} {
		if fs := CheckPath(p); len(fs) != 0 {
			t.Errorf("benign path %q: %+v", p, fs)
		}
	}
}

// TestSQLOpinions: the second opinion the WAF asks before overruling a noisy CRS rule.
func TestSQLOpinions(t *testing.T) {
	for _, v := range []string{`"IS" STAMP`, `CHRISTMAS STOCKING "NOT" STUFFER`, "80% ACRYLIC AND 20% WOOL"} {
		if !SQLText(v) || !SQLClean(v) {
			t.Errorf("%q: SQLText %v SQLClean %v, want text", v, SQLText(v), SQLClean(v))
		}
	}
	for _, v := range []string{"1' or '1'='1", "x/*", "(select 1)", "1 -- ", "a'; select 1"} {
		if SQLText(v) {
			t.Errorf("%q read as text", v)
		}
	}
	if !SQLClean("WOMEN';S ART DEC") || SQLText("WOMEN';S ART DEC") {
		t.Errorf("split-query shape: clean but not text expected")
	}
	long := strings.Repeat("a", maxValue+1)
	if SQLClean(long) || SQLText(long) {
		t.Error("a value longer than one window must get no veto opinion")
	}
}

// TestHostileInputsStayBounded feeds pathological values (very long, deeply nested, many
// encodings) and checks each finishes well inside a generous bound (a hang or a quadratic
// blow-up on 256 KiB takes far longer), and that padding does not hide a payload.
func TestHostileInputsStayBounded(t *testing.T) {
	n := 256 << 10
	cases := map[string]string{
		"quotes":          strings.Repeat("'", n),
		"parens":          strings.Repeat("(", n) + strings.Repeat(")", n),
		"comments":        strings.Repeat("/*", n/2),
		"line comments":   strings.Repeat("#\n", n/2),
		"percent":         strings.Repeat("%25", n/3),
		"nested percent":  strings.Repeat("%%32%65", n/7),
		"unicode escapes": strings.Repeat("%u002e", n/6),
		"overlong":        strings.Repeat("%c0%ae", n/6),
		"entities":        strings.Repeat("&#x0000003c", n/11),
		"js escapes":      strings.Repeat("\\u{3c}", n/6),
		"angle brackets":  strings.Repeat("<a ", n/3),
		"open attribute":  "<img " + strings.Repeat("a=\"", n/3),
		"dots":            strings.Repeat("../", n/3),
		"etc":             strings.Repeat("etc/", n/4),
		"sinks":           strings.Repeat("alert", n/5),
		"keywords":        strings.Repeat(" or ", n/4),
		"base64":          strings.Repeat("Li4v", n/4),
	}
	for name, v := range cases {
		start := time.Now()
		Check(v)
		SQLClean(v[:min(len(v), maxValue)])
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s (%d bytes): %v", name, len(v), d)
		}
	}
	pad := strings.Repeat("lorem ipsum ", 20000) // 240 KB of text before the payload
	if first(Check(pad+"<script>alert(1)</script>"), XSS) == 0 {
		t.Error("padding hid an XSS payload")
	}
	if first(Check(pad+"' UNION SELECT password FROM users--"), SQLi) == 0 {
		t.Error("padding hid an SQLi payload")
	}
	// a payload across a window border is found by the overlapping window
	border := strings.Repeat("a", maxValue-10) + " <script>alert(1)</script>"
	if first(Check(border), XSS) == 0 {
		t.Error("payload across a window border missed")
	}
}

// TestDecoders pins the decodings an attacker relies on.
func TestDecoders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"%2e%2e%2f", "../"},
		{"%%32%65", "."},
		{"%u2215", "/"},
		{"%uff0e", "."},
		{"a+b", "a b"},
		{"%zz", "%zz"},
	} {
		if got, _ := urlDecode(c.in); got != c.want {
			t.Errorf("urlDecode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"\xc0\xae", "."}, {"\xe0\x80\xae", "."}, {"\xf0\x80\x80\xae", "."}, {"\xc0\xaf", "/"}, {"\xc1\x9c", "\\"}, {"é", "é"},
	} {
		if got, _ := overlong(c.in); got != c.want {
			t.Errorf("overlong(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got, _ := entityDecode("&#0000060;&lt&#x3C"); got != "<<<" {
		t.Errorf("entityDecode = %q", got)
	}
	if got, _ := jsUnescape(`\x3c\u003c\u{3c}`); got != "<<<" {
		t.Errorf("jsUnescape = %q", got)
	}
}

// BenchmarkCheck measures the detector per benign GET query and per 2 KB form body, beside
// a baseline from the same run (url.ParseQuery of the same input: the least an application
// does with it), and reports the ratio.
func BenchmarkCheck(b *testing.B) {
	get := "q=garden+tools&page=2&sort=price_asc&lang=en-GB&ref=https%3A%2F%2Fexample.com%2Fsearch"
	var post strings.Builder
	post.WriteString("title=Spring+planting&author=O%27Brien")
	for post.Len() < 2048 {
		fmt.Fprintf(&post, "&comment%d=%s", post.Len(), url.QueryEscape("We planted the tomatoes (and the beans) in April; they're doing well - 10% better than last year!"))
	}
	for _, c := range []struct{ name, in string }{{"GET", get}, {"POST2KB", post.String()}} {
		vals, _ := url.ParseQuery(c.in)
		b.Run(c.name, func(b *testing.B) {
			var base time.Duration
			t0 := time.Now()
			for i := 0; i < b.N; i++ {
				url.ParseQuery(c.in)
			}
			base = time.Since(t0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, vs := range vals {
					for _, v := range vs {
						Check(v)
					}
				}
			}
			b.StopTimer()
			if base > 0 {
				per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(per/1000, "µs/req")
				b.ReportMetric(float64(base.Nanoseconds())/float64(b.N)/1000, "baseline-parse-µs/req")
				b.ReportMetric(per/(float64(base.Nanoseconds())/float64(b.N)), "x-parse")
			}
		})
	}
}

// TestNoPanicOnRandomValues runs the detector over pseudo-random values drawn from the
// characters attacks are made of (deterministic seed): no input may panic it.
func TestNoPanicOnRandomValues(t *testing.T) {
	alphabet := "'\"`<>/\\.%;:=()[]{}-+*#!&|^~@$ \t\n0123456789abcdefxuNOSRAEL\xc0\xae\xe0\x80\xff"
	words := []string{"select", "union", "or", "and", "document", ".cookie", "alert", "on", "script", "etc", "passwd", "..", "%2e", "%u002e", "&#x3c;", "\\x3c", "/*", "*/", "--", "javascript:", "data:"}
	seed := uint64(42)
	next := func(n int) int {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		b.Reset()
		for n := next(40); n >= 0; n-- {
			if next(3) == 0 {
				b.WriteString(words[next(len(words))])
			} else {
				b.WriteByte(alphabet[next(len(alphabet))])
			}
		}
		v := b.String()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic on %q: %v", v, r)
				}
			}()
			Check(v)
			SQLClean(v)
			SQLText(v)
		}()
	}
}

// FuzzCheck: go test -fuzz FuzzCheck ./core/detect explores further; the plain run checks
// the seeds.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"1' or '1'='1", "<svg/onload=alert(1)>", "..%c0%af..%c0%afetc/passwd", "\"+document.cookie+\"", ".cookie", "%%32%65"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		Check(v)
		SQLClean(v)
		SQLText(v)
	})
}

// TestPlainShortcutHidesNothing: whatever the plain-value shortcut lets through without
// analysis, the full analysis finds nothing in either (pseudo-random values over the
// shortcut's alphabet and the SQL and file words that matter to it).
func TestPlainShortcutHidesNothing(t *testing.T) {
	words := []string{"or", "and", "true", "null", "order", "by", "union", "select", "1", "5", "etc", "passwd", "boot.ini", "web.config", "onload", "onclick", "..", ".", "-", "--", ",", "x", "Having", "limit", "current_user", "sleep", "waitfor", "delay"}
	seed := uint64(7)
	next := func(n int) int {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	plainSeen := 0
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := next(6); n >= 0; n-- {
			b.WriteString(words[next(len(words))])
			if next(3) > 0 {
				b.WriteByte(' ')
			}
		}
		v := b.String()
		if len(v) < 2 || !plain(v) {
			continue
		}
		plainSeen++
		if fs := analyse(v); len(fs) > 0 {
			t.Fatalf("plain(%q) but the analysis finds %+v", v, fs)
		}
	}
	if plainSeen < 1000 {
		t.Fatalf("only %d plain values generated: the test says nothing", plainSeen)
	}
}
