package waf

import (
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"bulwark/core/config"
	"bulwark/core/detect"
	"bulwark/core/event"
)

// An attack CRS at PL1 lets through (a double-encoded, overlong UTF-8 traversal; an
// ORDER BY column probe; an event handler in an unknown tag) is refused by the second
// detector, with an event of its kind, rule id, message, variable and truncated data.
func TestDetectorBlocksWhatCRSMisses(t *testing.T) {
	rec := &recorder{}
	w := newTestWAF(t, config.Default().WAF, rec, nil)
	srv, c := tlsFront(t, w)
	crs := newTestWAF(t, config.Default().WAF, event.Discard, nil)
	crs.crsOnly = true
	crsSrv, crsC := tlsFront(t, crs)
	cases := []struct {
		q    string
		kind event.Kind
	}{
		{"%f8%80%80%80%ae%f8%80%80%80%ae%c0%afetc%c0%afissue", event.Traversal},
		{" ORDER BY 7--", event.SQLi},
		{"48e71%3balert(1)//" + strings.Repeat("x", 400), event.XSS},
	}
	for _, cs := range cases {
		target := "/search?q=" + url.QueryEscape(cs.q)
		if code, _ := get(t, crsC, crsSrv.URL+target); code != 200 {
			t.Fatalf("%q: CRS alone already blocks it (%d): pick a case CRS misses", cs.q, code)
		}
		rec.take()
		if code, _ := get(t, c, srv.URL+target); code != 403 {
			t.Fatalf("%q: %d, want 403", cs.q, code)
		}
		var ours *event.Event
		for _, e := range rec.take() {
			if n := atoi(e.Rule); detect.Ours(n) {
				ours = &e
			}
		}
		if ours == nil || ours.Kind != cs.kind || ours.Action != event.Blocked {
			t.Fatalf("%q: detector event %+v, want kind %s blocked", cs.q, ours, cs.kind)
		}
		var d struct {
			Msg, Variable, Data, Detector string
			Score                         int
		}
		if err := json.Unmarshal(ours.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d.Variable != "ARGS_GET:q" || d.Detector != "bulwark" || d.Msg == "" || d.Score < detectScore || !strings.HasPrefix(cs.q, strings.TrimSuffix(d.Data, "…")) || len(d.Data) > maxData+len("…") {
			t.Fatalf("%q: detail %+v", cs.q, d)
		}
	}
}

// Modes and exclusions apply to the detector's rules like to CRS's: detect mode logs, off
// skips, an exclusion of its rule id (whole or for one parameter, query or form) lets the
// value through and only that value.
func TestDetectorModesAndExclusions(t *testing.T) {
	rec := &recorder{}
	cfg := config.Default().WAF
	cfg.Paths = []config.WAFPath{{Prefix: "/watch", Mode: "detect"}, {Prefix: "/raw", Mode: "off"}}
	cfg.Exclusions = []config.WAFExclusion{
		{Prefix: "/docs", Rules: []int{detect.RuleSQLiClause}, Target: "ARGS:sort"},
		{Prefix: "/all", Rules: []int{detect.RuleSQLiClause}},
	}
	w := newTestWAF(t, cfg, rec, nil)
	srv, c := tlsFront(t, w)
	probe := url.QueryEscape(" ORDER BY 7--") // only the detector sees it (see above)

	if code, _ := get(t, c, srv.URL+"/watch?sort="+probe); code != 200 {
		t.Fatalf("detect mode: %d", code)
	}
	if ev := rec.take(); len(ev) != 1 || ev[0].Action != event.Logged || ev[0].Rule != "99105" {
		t.Fatalf("detect mode events: %+v", ev)
	}
	if code, _ := get(t, c, srv.URL+"/raw?sort="+probe); code != 200 || len(rec.take()) != 0 {
		t.Fatalf("off mode: %d", code)
	}
	if code, _ := get(t, c, srv.URL+"/docs?sort="+probe); code != 200 {
		t.Fatalf("excluded parameter (query): %d %+v", code, rec.take())
	}
	if code, _ := postForm(t, c, srv.URL+"/docs", url.Values{"sort": {" ORDER BY 7--"}}); code != 200 {
		t.Fatalf("excluded parameter (form): %d %+v", code, rec.take())
	}
	if code, _ := get(t, c, srv.URL+"/docs?order="+probe); code != 403 {
		t.Fatalf("another parameter: %d", code)
	}
	if code, _ := get(t, c, srv.URL+"/all?x="+probe); code != 200 {
		t.Fatalf("whole-rule exclusion: %d", code)
	}
	if code, _ := get(t, c, srv.URL+"/elsewhere?sort="+probe); code != 403 {
		t.Fatalf("exclusion leaked to another path: %d", code)
	}
	// JSON bodies are read too
	if code, _ := do(t, c, "POST", srv.URL+"/api", "application/json", `{"filter":{"sort":" ORDER BY 7--"}}`); code != 403 {
		t.Fatalf("JSON body: %d", code)
	}
}

// The vetoes: a CRS match of a noisy rule on a value the detector reads as text does not
// block; the same rule on SQL still does, and a veto never reaches a value it did not read.
func TestVetoOfNoisyRules(t *testing.T) {
	rec := &recorder{}
	w := newTestWAF(t, config.Default().WAF, rec, nil)
	srv, c := tlsFront(t, w)
	crs := newTestWAF(t, config.Default().WAF, event.Discard, nil)
	crs.crsOnly = true
	crsSrv, crsC := tlsFront(t, crs)
	for _, v := range []string{`"IS" STAMP`, `O'connors UNION selected a few friends`, `WOMEN';S ART DEC`} {
		target := "/search?q=" + url.QueryEscape(v)
		if code, _ := get(t, crsC, crsSrv.URL+target); code != 403 {
			t.Fatalf("%q: CRS alone gives %d: not a false positive of CRS any more", v, code)
		}
		if code, _ := get(t, c, srv.URL+target); code != 200 {
			t.Fatalf("%q: %d after veto, want 200 (%+v)", v, code, rec.take())
		}
	}
	for _, v := range []string{`1' or '1'='1`, `" or ""="`, `x' UNION SELECT password FROM users--`} {
		if code, _ := get(t, c, srv.URL+"/search?q="+url.QueryEscape(v)); code != 403 {
			t.Fatalf("%q: %d, want 403", v, code)
		}
	}
	// the same text in a header is not read by the detector: CRS's verdict stands
	req, _ := http.NewRequest("GET", srv.URL+"/search", nil)
	req.Host = testHost
	req.Header.Set("User-Agent", `"IS" STAMP`)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("veto reached a header: %d", resp.StatusCode)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Multipart fields and upload file names, and the request path as sent, are read too.
func TestDetectorMultipartAndPath(t *testing.T) {
	rec := &recorder{}
	w := newTestWAF(t, config.Default().WAF, rec, nil)
	srv, c := tlsFront(t, w)
	multipartBody := func(field, value, fileName string) (string, string) {
		var b strings.Builder
		mw := multipart.NewWriter(&b)
		mw.WriteField("title", "Spring planting")
		mw.WriteField(field, value)
		fw, _ := mw.CreateFormFile("upload", fileName)
		fw.Write([]byte("GIF89a plain bytes"))
		mw.Close()
		return mw.FormDataContentType(), b.String()
	}
	check := func(what string, code int, variable string) {
		t.Helper()
		ev := rec.take()
		if code != 403 {
			t.Fatalf("%s: %d, want 403 (%+v)", what, code, ev)
		}
		for _, e := range ev {
			var d struct{ Variable string }
			json.Unmarshal(e.Detail, &d)
			if detect.Ours(atoi(e.Rule)) && d.Variable == variable {
				return
			}
		}
		t.Fatalf("%s: no detector event on %s: %+v", what, variable, ev)
	}
	ct, body := multipartBody("comment", "x\" onmouseover=\"alert(1)", "photo.gif")
	code, _ := do(t, c, "POST", srv.URL+"/upload", ct, body)
	check("multipart field", code, "ARGS_POST:comment")
	ct, body = multipartBody("comment", "nice", "..%c0%af..%c0%af..%c0%afetc%c0%afpasswd")
	code, _ = do(t, c, "POST", srv.URL+"/upload", ct, body)
	check("upload file name", code, "FILES:upload")
	ct, body = multipartBody("comment", "Lovely tomatoes this year", "photo.gif")
	if code, _ := do(t, c, "POST", srv.URL+"/upload", ct, body); code != 200 {
		t.Fatalf("benign multipart: %d %+v", code, rec.take())
	}
	code, _ = get(t, c, srv.URL+"/static/..%c0%af..%c0%af..%c0%afetc/issue")
	check("path", code, "REQUEST_FILENAME")
	if code, _ := get(t, c, srv.URL+"/home/user/v1.2/settings"); code != 200 {
		t.Fatalf("benign path: %d %+v", code, rec.take())
	}
}
