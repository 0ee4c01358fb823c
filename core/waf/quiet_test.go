package waf

import (
	"slices"
	"testing"

	"github.com/corazawaf/coraza/v3"
)

// quietURIs are request targets around what 941010 decides: plain paths, paths with bytes
// outside its range (raw and percent-encoded), XSS in the path (which the tagged rules must
// still see when 941010 does not match), targets url.ParseRequestURI refuses, the asterisk
// and absolute forms, fragments and queries.
var quietURIs = []string{
	"/", "/shop/products/42?page=2&sort=price", "/a-b_c/D9", "/index.html", "/a b",
	"/a%3Cscript%3Ealert(1)%3C/script%3E", "/<script>alert(1)</script>", "/caf%C3%A9",
	"/x%00y", "/%zz", "/%", "*", "http://example.com/abs/path?q=1", "/p#frag<>", "/p?q=<b>#x",
	"//double//slash", "/..%2f..%2fetc%2fpasswd", "/javascript:alert(1)", "/img/a.png;jsessionid=1",
	"/\x01ctl", "/tab\there", "/x?", "/?only=query", "/UPPER/lower/123",
	"/document.cookie", "/window.location/x", // keywords of tagged XSS rules in a plain path
}

func quietRequest(uri string) *Request {
	r := benignGET()
	r.URI = uri
	return r
}

// REQUEST_FILENAME as Coraza computes it, read off a one-rule engine that matches every
// value and reports it.
func corazaFilename(t *testing.T, w coraza.WAF, uri string) string {
	t.Helper()
	tx := w.NewTransaction()
	defer tx.Close()
	tx.ProcessURI(uri, "GET", "HTTP/1.1")
	tx.ProcessRequestHeaders()
	for _, mr := range tx.MatchedRules() {
		if mds := mr.MatchedDatas(); mr.Rule().ID() == 1 && len(mds) == 1 {
			return mds[0].Value()
		}
	}
	t.Fatalf("%q: the probe rule did not report REQUEST_FILENAME", uri)
	return ""
}

// TestQuietRules: 941010 is evaluated by the engine at the default settings, the value it
// reads is Coraza's, and on every target the fast engine's whole Result equals the stock
// engine's, with 941010 fired exactly when its operator matches; an exclusion naming it
// leaves it to Coraza.
func TestQuietRules(t *testing.T) {
	fast, err := sharedEngine()
	stock, err2 := stockPL1()
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	i := slices.IndexFunc(fast.quiet, func(q quietRule) bool { return q.id == 941010 })
	if i < 0 || len(fast.quiet[i].tagged) == 0 {
		t.Fatalf("941010 is not evaluated by the engine (quiet rules %+v)", fast.quiet)
	}
	q := fast.quiet[i]
	probe, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(
		`SecRuleEngine DetectionOnly
SecRule REQUEST_FILENAME "@unconditionalMatch" "id:1,phase:1,pass,log,msg:'filename'"`))
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for _, uri := range quietURIs {
		if got, want := filename(uri), corazaFilename(t, probe, uri); got != want {
			t.Errorf("%q: REQUEST_FILENAME %q, Coraza says %q", uri, got, want)
		}
		req := quietRequest(uri)
		f, s := fast.Inspect(req, nil), stock.Inspect(req, nil)
		if !sameResult(f, s) && !stockCouldSay(stock, req, s, f) {
			t.Errorf("%q: fast %+v\nstock %+v", uri, f, s)
		}
		if slices.Contains(f.fired, q.id) != q.matches(filename(uri)) {
			t.Errorf("%q: 941010 fired %v, its operator says %v", uri, slices.Contains(f.fired, q.id), q.matches(filename(uri)))
		}
		if q.matches(filename(uri)) {
			matched++
		}
		excl := []txExclusion{{RuleID: q.id}}
		f, s = fast.Inspect(req, excl), stock.Inspect(req, excl)
		if !sameResult(f, s) && !stockCouldSay(stock, req, s, f) || slices.Contains(f.fired, q.id) {
			t.Errorf("%q excluding 941010: fast %+v\nstock %+v", uri, f, s)
		}
	}
	if matched == 0 || matched == len(quietURIs) {
		t.Fatalf("941010 matched %d of %d targets: the list must exercise both outcomes", matched, len(quietURIs))
	}
}

// TestQuietShape refuses what the engine could not reproduce.
func TestQuietShape(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		ok         bool
	}{
		{"941010", `SecRule REQUEST_FILENAME "!@validateByteRange 20,45-47" "id:10,phase:1,pass,t:none,nolog,tag:'x',ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, true},
		{"msg", `SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,msg:'m',ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, false},
		{"setvar", `SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,setvar:tx.a=1,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, false},
		{"transformed", `SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,t:lowercase,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, false},
		{"other variable", `SecRule REQUEST_URI "!@validateByteRange 20" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, false},
		{"other ctl", `SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,ctl:ruleRemoveById=11"`, false},
		{"bad range", `SecRule REQUEST_FILENAME "!@validateByteRange 20-300" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, false},
		{"empty range", `SecRule REQUEST_FILENAME "!@validateByteRange " "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`, false},
		{"chained", "SecRule REQUEST_FILENAME \"!@validateByteRange 20\" \"id:10,phase:1,pass,nolog,chain,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME\"\nSecRule ARGS \"@rx a\" \"t:none\"", false},
	} {
		rd, err := readSeclang(tc.rule, nil)
		if err != nil || len(rd.rules) != 1 {
			t.Fatalf("%s: %v %d", tc.name, err, len(rd.rules))
		}
		if _, _, ok := quietShape(&rd.rules[0]); ok != tc.ok {
			t.Errorf("%s: accepted %v, want %v", tc.name, ok, tc.ok)
		}
	}
	// a tagged rule before it in its phase, or a jump over it, keeps it in Coraza
	for name, text := range map[string]string{
		"tagged before": `SecRule ARGS "@rx a" "id:9,phase:1,pass,nolog,tag:'x'"
SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`,
		"jump over": `SecRule ARGS "@rx a" "id:9,phase:1,pass,nolog,skipAfter:END"
SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"
SecMarker END`,
		"skip": `SecRule ARGS "@rx a" "id:9,phase:1,pass,nolog,skip:1"
SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"`,
	} {
		rd, err := readSeclang(text, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q := planQuiet(rd, map[int]bool{}); len(q) != 0 {
			t.Errorf("%s: accepted %+v", name, q)
		}
	}
	// a jump that lands before it does not
	rd, err := readSeclang(`SecRule ARGS "@rx a" "id:9,phase:1,pass,nolog,skipAfter:END"
SecMarker END
SecRule REQUEST_FILENAME "!@validateByteRange 20" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=x;REQUEST_FILENAME"
SecRule ARGS "@rx b" "id:11,phase:2,pass,nolog,tag:'x'"`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := planQuiet(rd, map[int]bool{}); len(q) != 1 || !slices.Equal(q[0].tagged, []int{11}) {
		t.Errorf("jump landing before it: %+v", q)
	}
}

// TestRestrictedHeaders: 920450 is left out of the benign GET's transaction, and on requests
// with restricted headers (any case), header names a TX regex reader could see, and
// arguments that keep a TX.0 reader running, the fast engine's whole Result equals the
// stock engine's.
func TestRestrictedHeaders(t *testing.T) {
	fast, err := sharedEngine()
	stock, err2 := stockPL1()
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	i := slices.IndexFunc(fast.restrict, func(r restrictRule) bool { return r.id == 920450 })
	if i < 0 {
		t.Fatalf("920450 is not evaluated by the engine (%+v)", fast.restrict)
	}
	rr := &fast.restrict[i]
	if get := benignGET(); !rr.removable(get, fast.gate.removable(get), nil) {
		t.Fatal("920450 stays in the benign GET's transaction")
	}
	with := func(name, value string) *Request {
		r := benignGET()
		r.Headers = append(slices.Clone(r.Headers), [2]string{name, value})
		return r
	}
	args := benignGET()
	args.URI = "/search?q=select+1+from+t&id=99999999999999999999&x=%27%22"
	reqs := []*Request{
		benignGET(), benignPOST(), args,
		with("Proxy", "http://evil.test"), with("CONTENT-ENCODING", "gzip"), with("X-Http-Method-Override", "DELETE"),
		with("Expect", "100-continue"), with("X-Multipart_Headers_Content_Types_1", "text/html"),
		with("Lock-Token", "x"), with("X-Proxy", "not restricted"), with("If", "x"),
	}
	kept := 0
	for _, req := range reqs {
		if !rr.removable(req, fast.gate.removable(req), nil) {
			kept++
		}
		f, s := fast.Inspect(req, nil), stock.Inspect(req, nil)
		if !sameResult(f, s) && !stockCouldSay(stock, req, s, f) {
			t.Errorf("%s %s %v: fast %+v\nstock %+v", req.Method, req.URI, req.Headers[len(req.Headers)-1], f, s)
		}
	}
	if kept < 6 {
		t.Errorf("920450 stayed in %d of %d transactions; the restricted headers alone should keep it in 6", kept, len(reqs))
	}
}

// TestRefutedChains: chained protocol rules leave the benign GET's transaction, and on
// requests that make each of those chains match (a GET with a body length or
// Transfer-Encoding, a POST without either, a body without Content-Type, ranges, empty and
// doubled headers) the fast engine's whole Result equals the stock engine's.
func TestRefutedChains(t *testing.T) {
	fast, err := sharedEngine()
	stock, err2 := stockPL1()
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	refuted := 0
	for i := range fast.chains {
		if fast.chains[i].refuted(benignGET(), nil) {
			refuted++
		}
	}
	if refuted < 3 {
		t.Fatalf("%d chained rules refuted on the benign GET (%d decidable)", refuted, len(fast.chains))
	}
	with := func(method, body string, hs ...[2]string) *Request {
		r := benignGET()
		r.Method = method
		r.Body = []byte(body)
		r.Headers = append(slices.Clone(r.Headers), hs...)
		return r
	}
	h := func(k, v string) [2]string { return [2]string{k, v} }
	noHost := benignGET()
	noHost.Host = ""
	reqs := []*Request{
		benignGET(), benignPOST(), noHost,
		with("GET", "", h("Content-Length", "5")), with("GET", "", h("content-length", "0")),
		with("HEAD", "", h("Transfer-Encoding", "chunked")), with("GET", "", h("TRANSFER-ENCODING", "chunked")),
		with("POST", "a=1"), with("POST", "a=1", h("Content-Length", "3")), with("POST", "a=1", h("Transfer-Encoding", "chunked")),
		with("POST", "a=1", h("Content-Length", "3"), h("Transfer-Encoding", "chunked")),
		with("PUT", "x", h("Content-Length", "1")), with("POST", "", h("Content-Type", "text/plain")),
		with("GET", "", h("Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11")), with("GET", "", h("Range", "bytes=1-0")),
		with("GET", "", h("Accept", "")), with("GET", "", h("User-Agent", "")), with("GET", "", h("Content-Type", "a"), h("Content-Type", "b")),
		with("GET", "", h("Request-Range", "x")), with("POST", "x=1", h("Content-Type", "application/x-www-form-urlencoded"), h("Content-Length", "3")),
	}
	for _, req := range reqs {
		f, s := fast.Inspect(req, nil), stock.Inspect(req, nil)
		if !sameResult(f, s) && !stockCouldSay(stock, req, s, f) {
			t.Errorf("%s %q %v: fast %+v\nstock %+v", req.Method, req.Body, req.Headers[len(req.Headers)-1], f, s)
		}
	}
}
