package appliance

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

// guardedAppliance runs the real appliance (TLS front, pipeline, bus) with the guard wired in
// and a small app: a comment form, and a login that always fails and says so.
func guardedAppliance(t *testing.T) (string, *http.Client, *Defenses, *event.Subscription) {
	t.Helper()
	a, err := New(testConfig(t), WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.UseGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := a.Events.Subscribe("test", 4096)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /comment", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Add("Set-Cookie", "prefs=compact; Path=/")
		io.WriteString(w, `<!doctype html><form method="post" action="/comment"><textarea name=c></textarea></form>`)
	})
	mux.HandleFunc("POST /comment", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		io.WriteString(w, "saved "+r.PostForm.Get("c"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		d.Logins.LoginFailed(verdict.From(r.Context()).IP, "shop", r.PostForm.Get("user"))
		http.Error(w, "wrong password", http.StatusUnauthorized)
	})
	a.Pipeline.Router = mux
	base, client, _ := running(t, a)
	client.Jar, _ = cookiejar.New(nil)
	return base, client, d, seen
}

func waitEvent(t *testing.T, sub *event.Subscription, match func(event.Event) bool) event.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-sub.C:
			if match(e) {
				return e
			}
		case <-timeout:
			t.Fatal("expected event not seen")
			return event.Event{}
		}
	}
}

var tokenField = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

func TestGuardedApplianceCSRF(t *testing.T) {
	base, c, _, seen := guardedAppliance(t)
	res, err := c.Get(base + "/comment")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := tokenField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no token in served form: %s", page)
	}
	var appCookie string
	for _, sc := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "prefs=") {
			appCookie = sc
		}
	}
	if !strings.Contains(appCookie, "HttpOnly") || !strings.Contains(appCookie, "Secure") || !strings.Contains(appCookie, "SameSite=Lax") {
		t.Errorf("app cookie not hardened: %q", appCookie)
	}
	post := func(hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/comment", strings.NewReader(url.Values{"c": {"hi"}, "csrfmiddlewaretoken": {string(m[1])}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	if code, body := post(map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}); code != 200 || body != "saved hi" {
		t.Fatalf("own form posted back: %d %q", code, body)
	}
	code, body := post(map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if code != 403 || !strings.Contains(body, "Cross-site request refused") {
		t.Fatalf("cross-site post: %d %q", code, body)
	}
	e := waitEvent(t, seen, func(e event.Event) bool { return e.Kind == event.CSRF })
	if e.Action != event.Blocked || e.Path != "/comment" || e.IP != "127.0.0.1" {
		t.Errorf("csrf event %+v", e)
	}
}

func TestGuardedApplianceLoginSprayAndEnvProbes(t *testing.T) {
	base, c, d, seen := guardedAppliance(t)
	status := 0
	for i := 0; i < 50 && status != http.StatusForbidden; i++ {
		res, err := c.PostForm(base+"/login", url.Values{"user": {"user" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, "password": {"Spring2026"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status = res.StatusCode
		time.Sleep(5 * time.Millisecond)
	}
	if status != http.StatusForbidden {
		t.Fatalf("login spray never banned (last status %d)", status)
	}
	waitEvent(t, seen, func(e event.Event) bool {
		return e.Kind == event.Banned && e.Action == event.BannedIP && e.Rule == "credential-stuffing"
	})
	if _, err := d.Guard.Unban(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}

	for i := 1; i <= 6; i++ {
		res, err := c.Get(base + "/.env")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Fatalf(".env probe %d: %d, want 404 (not banned before the 6th)", i, res.StatusCode)
		}
	}
	res, err := c.Get(base + "/comment")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("after the 6th .env probe: %d, want 403", res.StatusCode)
	}
	b, ok := d.Bans.IsBanned(netip.MustParseAddr("127.0.0.1"), time.Now())
	if !ok || b.Rule != "scenario:sensitive-file" || b.Offense != 2 {
		t.Errorf("ban %+v (second offense: longer ban)", b)
	}
}
