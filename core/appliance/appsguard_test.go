package appliance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/apps"
	"bulwark/core/config"
	"bulwark/core/csrf"
	"bulwark/core/event"
	"bulwark/core/sandbox/sandboxtest"
)

// appJS is one app's code: a form page (with two cookies), a login that reports success to
// the appliance, a comment endpoint, a webhook and an echo page with markup in it.
const appJS = `export default {
  async fetch(request, env, ctx) {
    const u = new URL(request.url);
    const p = u.pathname.split("/").slice(2).join("/");
    const html = (s) => new Response(s, { headers: { "content-type": "text/html; charset=utf-8" } });
    if (p === "form") {
      const h = new Headers({ "content-type": "text/html; charset=utf-8" });
      h.append("set-cookie", "sid=abc; Path=/");
      h.append("set-cookie", "tracker=t1; Path=/");
      return new Response('<!doctype html><form method="post" action="comment"><input name=c></form>', { headers: h });
    }
    if (p === "login" && request.method === "POST") {
      ctx.security.loginSucceeded("alice");
      return html('<!doctype html><p>welcome</p><form method="post" action="comment"><input name=c></form>');
    }
    if (p === "comment" && request.method === "POST") return new Response("saved " + await request.text());
    if (p.startsWith("hook/")) return new Response("hook " + request.method);
    if (p === "echo") return html('<p>hi</p><script>alert(1)</script><img src=x onerror="alert(2)">');
    return new Response("ok " + p);
  },
};
`

// writeApp writes an app folder whose routes are /name/* and whose manifest carries security.
func writeApp(t testing.TB, name, security string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	man := `{"name": "` + name + `", "entry": "index.js", "routes": ["/` + name + `/*"], "security": ` + security + `}`
	if err := os.WriteFile(filepath.Join(dir, "app.json"), []byte(man), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(appJS), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type appsRig struct {
	base string
	c    *http.Client
	m    *apps.Manager
	d    *Defenses
	svc  interface {
		List(context.Context) ([]adminapi.App, error)
		SetEnabled(context.Context, string, bool) (adminapi.App, error)
	}
}

// appsAppliance is the real appliance (TLS front, guard, sandboxed workers) with three apps:
// shop overrides every defense it may, plain keeps the appliance defaults, rep reports CSRF.
func appsAppliance(t *testing.T) *appsRig {
	t.Helper()
	return appsApplianceWith(t, nil, []struct{ name, sec string }{
		{"shop", `{"exempt_cookies": ["tracker"], "csrf_exempt_paths": ["/shop/hook/*"], "sanitize": "ugc", "headers": "strict"}`},
		{"plain", `{}`},
		{"rep", `{"csrf": "report"}`},
	})
}

func appsApplianceWith(t *testing.T, adjust func(*config.Config), list []struct{ name, sec string }) *appsRig {
	t.Helper()
	cfg := testConfig(t)
	exe, _ := sandboxtest.Worker(t)
	cfg.Sandbox.WorkerBinary = exe
	cfg.Sandbox.DemoApp = false
	cfg.Guard.RateLimit.PerApp, cfg.Guard.RateLimit.PerAppBurst = 0.01, 30
	if adjust != nil {
		adjust(&cfg)
	}
	a, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.UseGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := deployApps(t, a, d, list)
	base, client, _ := running(t, a)
	client.Jar, _ = cookiejar.New(nil)
	return &appsRig{base: base, c: client, m: m, d: d, svc: AppsService(m)}
}

func (g *appsRig) do(t *testing.T, method, path, token, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", g.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if token != "" {
			req.Header.Set(csrf.HeaderName, token)
		}
	}
	res, err := g.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func (g *appsRig) session(t *testing.T) string {
	u, _ := url.Parse(g.base)
	for _, c := range g.c.Jar.Cookies(u) {
		if c.Name == csrf.CookieName {
			return c.Value
		}
	}
	return ""
}

func formToken(t *testing.T, page string) string {
	t.Helper()
	m := tokenField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no token in page: %s", page)
	}
	return m[1]
}

// deployApps starts the appliance's app manager, binds it to the defenses and deploys list
// (name and manifest security section).
func deployApps(t *testing.T, a *Appliance, d *Defenses, list []struct{ name, sec string }) *apps.Manager {
	t.Helper()
	ctx := context.Background()
	m, err := a.UseApps(ctx, d.Capabilities())
	if err != nil {
		t.Fatal(err)
	}
	d.BindApps(m)
	for _, app := range list {
		if _, err := m.Deploy(ctx, writeApp(t, app.name, app.sec)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// An app's ctx.security.loginSucceeded rotates the session cookie and the CSRF token in the
// same response; the token from before the login is refused afterwards.
func TestAppLoginRotatesSessionAndToken(t *testing.T) {
	g := appsAppliance(t)
	_, page := g.do(t, "GET", "/plain/form", "", "")
	t1, s1 := formToken(t, page), g.session(t)
	if s1 == "" {
		t.Fatal("no session cookie after the form")
	}
	res, page := g.do(t, "POST", "/plain/login", t1, "user=alice")
	if res.StatusCode != 200 {
		t.Fatalf("login: %d %s", res.StatusCode, page)
	}
	t2, s2 := formToken(t, page), g.session(t)
	if s2 == s1 || t2 == t1 {
		t.Fatalf("login did not rotate: session changed %v, token changed %v", s2 != s1, t2 != t1)
	}
	if res, body := g.do(t, "POST", "/plain/comment", t1, "c=old"); res.StatusCode != 403 || !strings.Contains(body, "Cross-site request refused") {
		t.Fatalf("old token after login: %d %q, want 403", res.StatusCode, body)
	}
	if res, body := g.do(t, "POST", "/plain/comment", t2, "c=new"); res.StatusCode != 200 || body != "saved c=new" {
		t.Fatalf("new token: %d %q", res.StatusCode, body)
	}
	// Other requests (no signal) rotate nothing.
	if g.session(t) != s2 {
		t.Fatal("a comment changed the session")
	}
	// A visitor without a session (origin check only) who logs in gets one with the login.
	g.c.Jar, _ = cookiejar.New(nil)
	res, page = g.do(t, "POST", "/plain/login", "", "user=bob")
	if s3 := g.session(t); res.StatusCode != 200 || s3 == "" || s3 == s2 {
		t.Fatalf("first login without a session: %d, session %q", res.StatusCode, s3)
	}
	if res, body := g.do(t, "POST", "/plain/comment", formToken(t, page), "c=bob"); res.StatusCode != 200 || body != "saved c=bob" {
		t.Fatalf("token from the first login: %d %q", res.StatusCode, body)
	}
}

// Each manifest's security section applies to its own app only.
func TestAppManifestSecurityOverrides(t *testing.T) {
	g := appsAppliance(t)
	// Cookies: shop exempts "tracker", plain does not; both get sid hardened.
	cookieLine := func(res *http.Response, name string) string {
		for _, l := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(l, name+"=") {
				return l
			}
		}
		t.Fatalf("no %s cookie in %v", name, res.Header.Values("Set-Cookie"))
		return ""
	}
	res, _ := g.do(t, "GET", "/shop/form", "", "")
	if l := cookieLine(res, "tracker"); l != "tracker=t1; Path=/" {
		t.Errorf("shop's exempt cookie rewritten: %q", l)
	}
	if l := cookieLine(res, "sid"); !strings.Contains(l, "HttpOnly") || !strings.Contains(l, "Secure") {
		t.Errorf("shop's sid not hardened: %q", l)
	}
	// Headers: shop asked for the strict profile, plain keeps the operator's default.
	if v := res.Header.Get("X-Frame-Options"); v != "DENY" {
		t.Errorf("shop X-Frame-Options %q, want DENY (strict)", v)
	}
	res, _ = g.do(t, "GET", "/plain/form", "", "")
	if l := cookieLine(res, "tracker"); !strings.Contains(l, "HttpOnly") {
		t.Errorf("plain's tracker not hardened: %q", l)
	}
	if v := res.Header.Get("X-Frame-Options"); v != "SAMEORIGIN" {
		t.Errorf("plain X-Frame-Options %q, want SAMEORIGIN", v)
	}

	// Sanitize: shop's HTML passes the UGC filter, plain's does not.
	_, body := g.do(t, "GET", "/shop/echo", "", "")
	if strings.Contains(body, "<script") || strings.Contains(body, "onerror") || !strings.Contains(body, "<p>hi</p>") {
		t.Errorf("shop echo not filtered: %q", body)
	}
	_, body = g.do(t, "GET", "/plain/echo", "", "")
	if !strings.Contains(body, "<script>alert(1)</script>") {
		t.Errorf("plain echo changed: %q", body)
	}

	// CSRF: a cross-site POST with the session cookie and no token.
	cross := func(path string) int {
		req, _ := http.NewRequest("POST", g.base+path, strings.NewReader("x=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		res, err := g.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for path, want := range map[string]int{
		"/shop/hook/github":     200, // exempt path of shop
		"/shop/comment":         403,
		"/shop/hook/../comment": 403, // cleaned: not under the exempt prefix
		"/plain/hook/github":    403, // the exemption is shop's only
		"/rep/comment":          200, // report only
	} {
		if got := cross(path); got != want {
			t.Errorf("cross-site POST %s: %d, want %d", path, got, want)
		}
	}

	// Per-app rate limit: plain's bucket (burst 30) runs dry, shop's does not.
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		res, _ := g.do(t, "GET", "/plain/x", "", "")
		limited = res.StatusCode == 429
	}
	if !limited {
		t.Fatal("plain never hit its per-app limit")
	}
	if res, _ := g.do(t, "GET", "/shop/x", "", ""); res.StatusCode != 200 {
		t.Fatalf("shop limited by plain's bucket: %d", res.StatusCode)
	}

	// The apps list counts per app: the csrf refusals and the limit hits are plain's and shop's.
	deadline := time.Now().Add(5 * time.Second)
	var shop, plain adminapi.App
	for {
		list, err := g.svc.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			switch a.Name {
			case "shop":
				shop = a
			case "plain":
				plain = a
			}
		}
		if shop.LastHour != nil && plain.LastHour != nil && shop.LastHour.Blocked >= 2 && plain.LastHour.LimitHits >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts: shop %+v plain %+v", shop.LastHour, plain.LastHour)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if shop.LastHour.Requests < 4 || plain.LastHour.Requests < 20 {
		t.Errorf("requests: shop %+v plain %+v", shop.LastHour, plain.LastHour)
	}
	t.Logf("shop %+v plain %+v", *shop.LastHour, *plain.LastHour)
}

// The admin adapter switches an app off (503 with the error page, versions kept) and on.
func TestAppsServiceSetEnabled(t *testing.T) {
	g := appsAppliance(t)
	ctx := context.Background()
	a, err := g.svc.SetEnabled(ctx, "rep", false)
	if err != nil || a.Enabled {
		t.Fatalf("disable: %+v %v", a, err)
	}
	if res, body := g.do(t, "GET", "/rep/x", "", ""); res.StatusCode != 503 || !strings.Contains(body, "503") {
		t.Fatalf("disabled app: %d %q", res.StatusCode, body)
	}
	if res, _ := g.do(t, "GET", "/shop/x", "", ""); res.StatusCode != 200 {
		t.Fatalf("other app while rep is off: %d", res.StatusCode)
	}
	if _, err := g.svc.SetEnabled(ctx, "nosuch", false); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown app: %v", err)
	}
	if a, err = g.svc.SetEnabled(ctx, "rep", true); err != nil || !a.Enabled || a.Workers == 0 {
		t.Fatalf("enable: %+v %v", a, err)
	}
	if res, body := g.do(t, "GET", "/rep/x", "", ""); res.StatusCode != 200 || body != "ok x" {
		t.Fatalf("enabled again: %d %q", res.StatusCode, body)
	}
}

// The manifests' security.waf modes apply per app beside the operator's policy, and follow
// deploys: block by default, detect logs and lets through, off does not inspect.
func TestAppManifestWAFModes(t *testing.T) {
	cfg := testConfig(t)
	exe, _ := sandboxtest.Worker(t)
	cfg.Sandbox.WorkerBinary = exe
	cfg.Sandbox.DemoApp = false
	a, err := New(cfg, WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.UseGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := a.UsePolicies(d, PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.UseWAF(pol, d.AppOf)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.UseAppWAF(d, pol, w); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := deployApps(t, a, d, []struct{ name, sec string }{{"plain", `{}`}, {"shop", `{"waf": "detect"}`}, {"rep", `{"waf": "off"}`}})
	seen := a.Events.Subscribe("waf-test", 4096)
	base, c, _ := running(t, a)
	attack := "?q=" + url.QueryEscape("1' UNION SELECT password FROM users--") + "&x=" + url.QueryEscape("<script>alert(1)</script>")
	get := func(path string) int {
		res, err := c.Get(base + path + attack)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for path, want := range map[string]int{"/plain/x": 403, "/shop/x": 200, "/rep/x": 200} {
		if got := get(path); got != want {
			t.Errorf("attack on %s: %d, want %d", path, got, want)
		}
	}
	// shop's attack was logged (detect), rep's was not inspected at all.
	logged := map[string]bool{}
	deadline := time.After(3 * time.Second)
collect:
	for {
		select {
		case e := <-seen.C:
			if e.Kind == event.SQLi || e.Kind == event.XSS || e.Kind == event.WAF {
				logged[e.App+"/"+string(e.Action)] = true
			}
		case <-deadline:
			break collect
		}
	}
	if !logged["shop/logged"] || !logged["plain/blocked"] || logged["rep/logged"] || logged["rep/blocked"] || logged["shop/blocked"] {
		t.Errorf("WAF events by app/action: %v", logged)
	}
	// A new version of shop without the override goes back to the appliance's mode.
	if _, err := m.Deploy(ctx, writeApp(t, "shop", `{}`)); err != nil {
		t.Fatal(err)
	}
	if got := get("/shop/x"); got != 403 {
		t.Errorf("shop after a deploy without security.waf: %d, want 403", got)
	}
	// The operator's entry for an app (through the "waf" policy document, as the admin API
	// puts it) beats the app's manifest; rep still says "off".
	raw, err := pol.Docs.Get(ctx, "waf")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["paths"] = []any{map[string]any{"app": "rep", "prefix": "/", "mode": "block"}}
	raw, _ = json.Marshal(doc)
	if err := pol.Docs.Put(ctx, "waf", raw); err != nil {
		t.Fatal(err)
	}
	if got := get("/rep/x"); got != 403 {
		t.Errorf("rep with an operator block entry: %d, want 403", got)
	}
	if got := get("/plain/y"); got != 403 {
		t.Errorf("plain after the document change: %d, want 403", got)
	}
}

// security.headers only tightens: under the operator's strict profile an app asking for the
// default (or an unknown "relaxed") keeps strict, unless headers.allow_app_loosen is on.
func TestAppHeadersTightenOnly(t *testing.T) {
	list := []struct{ name, sec string }{{"loose", `{"headers": "default"}`}, {"relaxed", `{"headers": "relaxed"}`}, {"plain", `{}`}}
	for _, allow := range []bool{false, true} {
		g := appsApplianceWith(t, func(c *config.Config) {
			c.Headers.Profile, c.Headers.AllowAppLoosen = "strict", allow
		}, list)
		want := map[string]string{"loose": "DENY", "relaxed": "DENY", "plain": "DENY"}
		if allow {
			want["loose"] = "SAMEORIGIN"
		}
		for app, xfo := range want {
			res, _ := g.do(t, "GET", "/"+app+"/x", "", "")
			if got := res.Header.Get("X-Frame-Options"); res.StatusCode != 200 || got != xfo {
				t.Errorf("allow_app_loosen=%v, %s: %d X-Frame-Options %q, want %q", allow, app, res.StatusCode, got, xfo)
			}
		}
	}
}
