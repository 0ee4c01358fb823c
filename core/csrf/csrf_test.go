package csrf

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

type recorder struct {
	mu sync.Mutex
	ev []event.Event
}

func (r *recorder) Emit(e event.Event) { r.mu.Lock(); r.ev = append(r.ev, e); r.mu.Unlock() }
func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.ev...)
}

const page = `<!doctype html><html><HEAD><title>f</title></HEAD><body>
<form method="get" action="/search"><input name=q></form>
<form action="/submit" METHOD=Post class="x>y"><input name="comment"></form>
<script>var s = "<form method=post>";</script>
<!-- <form method="post"> -->
</body></html>`

var tokenRe = regexp.MustCompile(`<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">`)

// app serves the form page, echoes posted comments, and rotates the session on /login.
func app(p *Protector) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		io.WriteString(w, "saved: "+r.PostForm.Get("comment"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// What the sandbox does on ctx.security.loginSucceeded: it knows only the request id,
		// and calls from another goroutine.
		done := make(chan bool)
		go func() { done <- p.RotateRequest(verdict.From(r.Context()).ID) }()
		if !<-done {
			http.Error(w, "rotation refused", 500)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<form method=post action=/submit></form>`)
	})
	return mux
}

func front(t *testing.T, opts Options) (*httptest.Server, *http.Client, *Protector, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Sink = rec
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Check()(p.Inject()(app(p)))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _ = verdict.New(r)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Jar, _ = cookiejar.New(nil)
	return srv, c, p, rec
}

func do(t *testing.T, c *http.Client, method, u string, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func TestFormServedAndPostedBackWorksCrossSiteIsRefused(t *testing.T) {
	srv, c, _, rec := front(t, Options{})
	res, body := do(t, c, "GET", srv.URL+"/form", "")
	toks := tokenRe.FindAllStringSubmatch(body, -1)
	if len(toks) != 1 {
		t.Fatalf("want exactly one token (the POST form; not the GET form, script or comment), got %d in:\n%s", len(toks), body)
	}
	if !strings.Contains(body, `<HEAD><meta name="csrf-token" content="`+toks[0][1]+`"><title>`) {
		t.Errorf("no csrf-token meta after <head>:\n%s", body)
	}
	if !strings.Contains(body, `class="x>y"><input type="hidden" name="csrfmiddlewaretoken"`) {
		t.Errorf("token not placed right after the form tag:\n%s", body)
	}
	if got := res.Header.Values("Vary"); !strings.Contains(strings.Join(got, ","), "Sec-Fetch-Site, Origin") {
		t.Errorf("Vary = %q", got)
	}
	sc := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, CookieName+"=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Path=/") {
		t.Errorf("session cookie %q", sc)
	}
	tok := toks[0][1]
	if res.Header.Get(HeaderName) != tok {
		t.Errorf("X-CSRF-Token response header %q != form token", res.Header.Get(HeaderName))
	}

	// The same form posted back, as a browser would.
	form := url.Values{"comment": {"hello"}, FieldName: {tok}}.Encode()
	res, body = do(t, c, "POST", srv.URL+"/submit", form, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != 200 || body != "saved: hello" {
		t.Fatalf("own form post: %d %q", res.StatusCode, body)
	}
	// Scripts use the header.
	res, _ = do(t, c, "POST", srv.URL+"/submit", "", HeaderName, tok, "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != 200 {
		t.Fatalf("header token: %d", res.StatusCode)
	}

	// A cross-site form post (the browser sends the cookie: SameSite=Lax allows top-level POST? no, but an old browser might).
	res, body = do(t, c, "POST", srv.URL+"/submit", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if res.StatusCode != 403 || !strings.Contains(body, "Cross-site request refused") {
		t.Fatalf("cross-site post: %d %q", res.StatusCode, body)
	}
	// Same origin but no token, and a token of another session.
	res, _ = do(t, c, "POST", srv.URL+"/submit", "comment=x", "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != 403 {
		t.Fatalf("missing token: %d", res.StatusCode)
	}
	other, _ := New(Options{})
	res, _ = do(t, c, "POST", srv.URL+"/submit", url.Values{FieldName: {other.token(newSessionID())}}.Encode(), "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != 403 {
		t.Fatalf("foreign token: %d", res.StatusCode)
	}
	ev := rec.all()
	rules := []string{}
	for _, e := range ev {
		if e.Kind != event.CSRF || e.Action != event.Blocked || e.IP != "127.0.0.1" || e.Path != "/submit" {
			t.Errorf("event %+v", e)
		}
		rules = append(rules, e.Rule)
	}
	if strings.Join(rules, ",") != "origin,token-missing,token-mismatch" {
		t.Errorf("csrf events %v", rules)
	}
}

func TestNoSessionFollowsOriginOnlyAndTrustedOriginsCompareScheme(t *testing.T) {
	srv, c, _, _ := front(t, Options{TrustedOrigins: []string{"https://admin.example.com"}})
	c.Jar = nil // no session cookie
	if res, _ := do(t, c, "POST", srv.URL+"/submit", "comment=a"); res.StatusCode != 200 {
		t.Errorf("non-browser post without session: %d", res.StatusCode)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/submit", "comment=a", "Origin", "https://admin.example.com", "Sec-Fetch-Site", "cross-site"); res.StatusCode != 200 {
		t.Errorf("trusted origin: %d", res.StatusCode)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/submit", "comment=a", "Origin", "http://admin.example.com", "Sec-Fetch-Site", "cross-site"); res.StatusCode != 403 {
		t.Errorf("trusted host over http (scheme differs): %d, want 403", res.StatusCode)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/submit", "comment=a", "Origin", "https://evil.example"); res.StatusCode != 403 {
		t.Errorf("Origin mismatch without Sec-Fetch-Site: %d", res.StatusCode)
	}
	for i, bad := range []string{"admin.example.com", "https://admin.example.com/path", "ftp://x.example"} {
		_, err := New(Options{TrustedOrigins: []string{"https://ok.example", bad}})
		if err == nil || !strings.Contains(err.Error(), "trusted_origins[1]") || !strings.Contains(err.Error(), bad) {
			t.Errorf("%d: bad origin %q: err = %v", i, bad, err)
		}
	}
}

func TestLoginRotatesTheToken(t *testing.T) {
	srv, c, _, _ := front(t, Options{})
	_, body := do(t, c, "GET", srv.URL+"/form", "")
	before := tokenRe.FindStringSubmatch(body)[1]
	res, body := do(t, c, "POST", srv.URL+"/login", url.Values{FieldName: {before}}.Encode(), "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	after := tokenRe.FindStringSubmatch(body)[1]
	if after == before {
		t.Fatal("token not rotated on login")
	}
	if res, _ := do(t, c, "POST", srv.URL+"/submit", url.Values{FieldName: {before}}.Encode(), "Sec-Fetch-Site", "same-origin"); res.StatusCode != 403 {
		t.Errorf("pre-login token still accepted: %d", res.StatusCode)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/submit", url.Values{FieldName: {after}}.Encode(), "Sec-Fetch-Site", "same-origin"); res.StatusCode != 200 {
		t.Errorf("post-login token refused: %d", res.StatusCode)
	}
}

func TestRewriterSplitAtEveryByte(t *testing.T) {
	want := rewriteAll([][]byte{[]byte(page)})
	if n := strings.Count(want, FieldName) + strings.Count(want, `name="csrf-token"`); n != 2 {
		t.Fatalf("whole page: %d tokens", n)
	}
	for cut1 := 1; cut1 < len(page); cut1++ {
		cut2 := (cut1*7)%len(page) + 0
		a, b := min(cut1, cut2), max(cut1, cut2)
		got := rewriteAll([][]byte{[]byte(page[:a]), []byte(page[a:b]), []byte(page[b:])})
		if got != want {
			t.Fatalf("split at %d/%d:\n got %q\nwant %q", a, b, got, want)
		}
	}
	// One byte at a time.
	var chunks [][]byte
	for i := range len(page) {
		chunks = append(chunks, []byte{page[i]})
	}
	if got := rewriteAll(chunks); got != want {
		t.Fatalf("byte-at-a-time:\n got %q\nwant %q", got, want)
	}
}

func rewriteAll(chunks [][]byte) string {
	var out bytes.Buffer
	z := newRewriter(&out, "TOKEN")
	for _, c := range chunks {
		z.write(c)
	}
	z.close()
	return out.String()
}

// countingWriter discards but counts, so a huge body costs no memory in the test either.
type countingWriter struct{ n, tokens int64 }

func (c *countingWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	c.tokens += int64(bytes.Count(b, []byte(FieldName)))
	return len(b), nil
}

func TestRewriterHugeBodyIsStreamedNotBuffered(t *testing.T) {
	var out countingWriter
	z := newRewriter(&out, "T")
	chunk := []byte(strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 900) + `<form method="post"><input name=a></form>`)
	const rounds = 2000 // ~60 MB
	maxPend := 0
	for range rounds {
		z.write(chunk)
		maxPend = max(maxPend, len(z.pend))
	}
	// A "tag" that never ends (a hostile or broken page) must not make it hold more than maxHold.
	z.write([]byte("<div title='"))
	for range 1000 {
		z.write(bytes.Repeat([]byte("x"), 1000))
		maxPend = max(maxPend, len(z.pend))
	}
	z.close()
	if out.tokens != rounds {
		t.Errorf("tokens injected %d, want %d", out.tokens, rounds)
	}
	if maxPend > maxHold+len(chunk) {
		t.Errorf("rewriter held %d bytes back; it must stay bounded", maxPend)
	}
	if want := int64(rounds*len(chunk)) + rounds*int64(len(z.field)) + int64(len("<div title='")) + 1000*1000; out.n != want {
		t.Errorf("bytes out %d, want %d (nothing lost)", out.n, want)
	}
}

func TestNonHTMLIsUntouched(t *testing.T) {
	p, _ := New(Options{})
	h := p.Inject()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "29")
		io.WriteString(w, `{"x":"<form method=post>"}  `)
	}))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	if strings.Contains(rr.Body.String(), FieldName) || rr.Header().Get("Set-Cookie") != "" {
		t.Errorf("JSON rewritten: %q %q", rr.Body.String(), rr.Header().Get("Set-Cookie"))
	}
}
