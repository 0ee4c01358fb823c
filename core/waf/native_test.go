package waf

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/corazawaf/coraza/v3"
)

// TestEmulationMatchesCoraza compares the transformations native.go reproduces with
// Coraza's own, on hostile strings: escapes cut short, %u, octal runs, full-width code
// points, bytes above 0x7f. Coraza computes each through a one-rule engine that copies the
// transformed value into a TX variable. (20,000 random strings in the plain run.)
func TestEmulationMatchesCoraza(t *testing.T) {
	fixed := []string{`\u{ff21}`, `\u{0ff01}`, `\u{1234567}`, `\u{}`, `\u{12`, `\uFF21x`, `\uff5f`, `\x4`, `\x41\x4g`,
		`\400`, `\377`, `\1234`, `\8`, `\`, `a\`, `\\`, `\'\"\?`, `\a\b\f\n\r\t\v\z`, "%41%u0041%4", "a+b%2", "x\u00a0y\u2003z\t\n",
		"QUJD", "QUJD=RUY", "QU JD", "QUJ", "QU", "Q", "QUJD\r\nRUZH", "//++", "é=", "\xff\xfe"}
	rng := rand.New(rand.NewSource(4))
	const alpha = `\\\\uuxX{}0123478abcdefFABCD +%=/\n` + "\t\r\xc2\xa0\x80"
	var cases []string
	cases = append(cases, fixed...)
	n := 20000
	if testing.Short() || raceEnabled {
		n = 300
	}
	cases = append(cases, randomTexts(rng, alpha, n, 14)...)
	for _, tr := range []string{"jsDecode", "base64Decode", "urlDecodeUni", "removeWhitespace"} {
		checked := compareTransform(t, tr, cases, func(v string) (string, bool) { return emulate([]string{"none", tr}, v) })
		if checked < len(cases)/2 {
			t.Errorf("%s: only %d of %d strings reproduced", tr, checked, len(cases))
		}
	}
}

// Native refutation must keep 934100 whenever a value, or any of its decoded forms, could
// carry a Node.js injection: each request here does.
func TestNativeRefutation(t *testing.T) {
	e, err := sharedEngine()
	if err != nil {
		t.Fatal(err)
	}
	var r934 *nativeRule
	for i := range e.gate.native {
		if e.gate.native[i].id == 934100 {
			r934 = &e.gate.native[i]
		}
	}
	if r934 == nil {
		t.Fatal("934100 is not refuted natively")
	}
	if !r934.refutedBy(benignPOST()) || !r934.refutedBy(benignGET()) {
		t.Fatal("the benign requests keep 934100")
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	hostile := map[string]*Request{}
	q := func(v string) *Request { r := benignGET(); r.URI = "/p?x=" + url.QueryEscape(v); return r }
	hostile["plain"] = q(`require('child_process').exec('id')`)
	hostile["base64"] = q(b64(`eval(atob(x))`))
	hostile["base64 with spaces"] = q(strings.Join(strings.Split(b64(`this.constructor`), ""), " "))
	hostile["js escapes"] = q(`\x65val(1)`)
	hostile["js escape in base64"] = q(b64(`\u0065val(1)`))
	hostile["url escape in base64"] = q(b64(`%65val(1)`))
	c := benignGET()
	c.Headers = append(c.Headers, [2]string{"Cookie", "s=" + b64(`process.mainModule`)})
	hostile["cookie"] = c
	p := benignGET()
	p.URI = "/a/" + url.PathEscape(`eval(1)`)
	hostile["path"] = p
	post := benignPOST()
	post.Body = []byte("bio=" + url.QueryEscape(b64(`new Function ("x")`)))
	hostile["form body"] = post
	j := benignPOST()
	j.Headers = append(j.Headers[:len(j.Headers):len(j.Headers)], [2]string{"Content-Type", "text/xml"})
	hostile["xml body"] = j
	for name, r := range hostile {
		if r934.refutedBy(r) {
			t.Errorf("%s: 934100 refuted, yet %q %q may match", name, r.URI, r.Body)
		}
	}
}

// removeWhitespace must give what strings.Map with unicode.IsSpace gives, invalid UTF-8
// included (which strings.Map writes as U+FFFD).
func TestRemoveWhitespaceAsMap(t *testing.T) {
	byMap := func(v string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, v)
	}
	rnd := uint64(3)
	pool := []string{"a", " ", "\t", "\n", "\v", "\f", "\r", "\u0085", "\u00a0", "\u2028", "\u3000", "é", "\xff", "\xc3", "\xef\xbf\xbd", "\x80", "z"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for j := 0; j < i%23; j++ {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			b.WriteString(pool[rnd>>33%uint64(len(pool))])
		}
		if got, want := removeWhitespace(b.String()), byMap(b.String()); got != want {
			t.Fatalf("removeWhitespace(%q) = %q, strings.Map gives %q", b.String(), got, want)
		}
	}
}

// randomTexts returns n strings of 1 to maxLen bytes drawn from alpha.
func randomTexts(rng *rand.Rand, alpha string, n, maxLen int) []string {
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		var b strings.Builder
		for j := rng.Intn(maxLen); j >= 0; j-- {
			b.WriteByte(alpha[rng.Intn(len(alpha))])
		}
		out = append(out, b.String())
	}
	return out
}

// compareTransform runs every case through a one-rule Coraza engine that applies t:none,
// t:<tr> to a query argument and fails the test wherever mine claims a result (ok) that is
// not Coraza's byte for byte; it returns how many cases were compared.
func compareTransform(t *testing.T, tr string, cases []string, mine func(string) (string, bool)) int {
	t.Helper()
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(fmt.Sprintf(
		"SecRuleEngine DetectionOnly\nSecRule ARGS_GET:a \"@unconditionalMatch\" \"id:1,phase:1,pass,t:none,t:%s,setvar:'tx.out=v%%{MATCHED_VAR}'\"", tr)))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range cases {
		want, ok := mine(v)
		if !ok {
			continue // not reproduced: the rule stays
		}
		tx := w.NewTransaction()
		tx.ProcessURI("/?a="+url.QueryEscape(v), "GET", "HTTP/1.1")
		tx.ProcessRequestHeaders()
		got := ""
		if vs := tx.(txVars).Variables().TX().Get("out"); len(vs) > 0 {
			got = strings.TrimPrefix(vs[0], "v") // the prefix keeps a leading '+' from being an increment
		}
		tx.Close()
		if got != want {
			t.Errorf("%s(%q): Coraza %q, emulation %q", tr, v, got, want)
		}
		checked++
	}
	return checked
}
