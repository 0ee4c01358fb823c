package cookies

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEveryAppCookieIsHardenedUnlessExempt(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "sid=abc; Path=/")
		w.Header().Add("Set-Cookie", "theme=dark; SameSite=None")
		w.Header().Add("Set-Cookie", "strict=1; SameSite=Strict")
		w.Header().Add("Set-Cookie", "js_visible=1; Path=/")
		w.Write([]byte("ok"))
	})
	exempt := func(app, name string) bool { return name == "js_visible" }
	srv := httptest.NewTLSServer(Harden(exempt)(app))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	got := res.Header.Values("Set-Cookie")
	want := []string{
		"sid=abc; Path=/; HttpOnly; Secure; SameSite=Lax",
		"theme=dark; HttpOnly; Secure; SameSite=Lax",
		"strict=1; HttpOnly; Secure; SameSite=Strict",
		"js_visible=1; Path=/",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Set-Cookie:\n got %q\nwant %q", got, want)
	}
	for _, c := range res.Cookies()[:3] {
		if !c.HttpOnly || !c.Secure {
			t.Errorf("client sees %s without flags", c.Name)
		}
	}
}
