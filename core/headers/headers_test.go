package headers

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// helmet8 is Helmet 8.x's default header set, byte for byte, with HSTS raised to two years.
var helmet8 = map[string]string{
	"Content-Security-Policy":           "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
	"Cross-Origin-Opener-Policy":        "same-origin",
	"Cross-Origin-Resource-Policy":      "same-origin",
	"Origin-Agent-Cluster":              "?1",
	"Referrer-Policy":                   "no-referrer",
	"Strict-Transport-Security":         "max-age=63072000; includeSubDomains",
	"X-Content-Type-Options":            "nosniff",
	"X-DNS-Prefetch-Control":            "off",
	"X-Download-Options":                "noopen",
	"X-Frame-Options":                   "SAMEORIGIN",
	"X-Permitted-Cross-Domain-Policies": "none",
	"X-XSS-Protection":                  "0",
}

func serve(t *testing.T, s *Set, path string, tlsOn bool, h http.HandlerFunc) http.Header {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", path, nil)
	if tlsOn {
		req.TLS = &tls.ConnectionState{}
	} else {
		req.TLS = nil
	}
	s.Middleware(h).ServeHTTP(rec, req)
	return rec.Result().Header
}

func mustSet(t *testing.T, c Config) *Set {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ok(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }

func TestDefaultIsHelmet8ByteForByte(t *testing.T) {
	h := serve(t, mustSet(t, Config{}), "/", true, ok)
	for k, want := range helmet8 {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if pp := h.Get("Permissions-Policy"); pp == "" || h.Get("Permissions-Policy") != defaultPermissions {
		t.Errorf("Permissions-Policy = %q", pp)
	}
	for _, k := range []string{"Server", "X-Powered-By", "Cross-Origin-Embedder-Policy"} {
		if v := h.Values(k); len(v) != 0 {
			t.Errorf("%s present: %q", k, v)
		}
	}
}

func TestStrictProfile(t *testing.T) {
	h := serve(t, mustSet(t, Config{Profile: Strict}), "/", true, ok)
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !contains(csp, want) {
			t.Errorf("strict CSP %q lacks %q", csp, want)
		}
	}
	if contains(csp, "unsafe-inline") {
		t.Errorf("strict CSP allows unsafe-inline: %q", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options = %q", h.Get("X-Frame-Options"))
	}
	if h.Get("Strict-Transport-Security") != helmet8["Strict-Transport-Security"] {
		t.Errorf("HSTS = %q", h.Get("Strict-Transport-Security"))
	}
}

func contains(s, sub string) bool {
	return len(sub) <= len(s) && (func() bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
		return false
	})()
}

func TestRoutePrefixLongestWins(t *testing.T) {
	s := mustSet(t, Config{Profile: Default, Routes: map[string]string{"/admin": Strict, "/admin/public": Default}})
	cases := map[string]string{"/": "SAMEORIGIN", "/admin/x": "DENY", "/admin/public/y": "SAMEORIGIN", "/administrator": "DENY"}
	for path, want := range cases {
		if got := serve(t, s, path, true, ok).Get("X-Frame-Options"); got != want {
			t.Errorf("%s: X-Frame-Options = %q, want %q", path, got, want)
		}
	}
}

func TestUnknownProfileIsAnError(t *testing.T) {
	if _, err := New(Config{Profile: "lax"}); err == nil || !contains(err.Error(), `"lax"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(Config{Routes: map[string]string{"/x": "none"}}); err == nil || !contains(err.Error(), `"/x"`) {
		t.Fatalf("err = %v", err)
	}
}

// An app (a later stage) tries to set the advertising headers and to weaken the profile.
func TestAppCannotLoosenOrAdvertise(t *testing.T) {
	s := mustSet(t, Config{Profile: Strict})
	var useErr error
	h := serve(t, s, "/", true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.0")
		w.Header().Set("X-Powered-By", "Express")
		useErr = Use(w, Default)
		w.WriteHeader(200)
	})
	if !errors.Is(useErr, ErrLoosen) {
		t.Fatalf("Use(default) under strict: err = %v, want ErrLoosen", useErr)
	}
	if h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("profile loosened: X-Frame-Options = %q", h.Get("X-Frame-Options"))
	}
	if h.Get("Server") != "" || h.Get("X-Powered-By") != "" {
		t.Fatalf("advertising headers kept: %v", h)
	}
}

func TestAppMayTighten(t *testing.T) {
	s := mustSet(t, Config{Profile: Default})
	h := serve(t, s, "/", true, func(w http.ResponseWriter, r *http.Request) {
		if err := Use(w, Strict); err != nil {
			t.Error(err)
		}
		w.Write([]byte("x"))
	})
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Fatalf("not tightened: %v", h)
	}
}

func TestLoosenWithOperatorSetting(t *testing.T) {
	s := mustSet(t, Config{Profile: Strict, AllowLoosen: true})
	h := serve(t, s, "/", true, func(w http.ResponseWriter, r *http.Request) {
		if err := Use(w, Default); err != nil {
			t.Error(err)
		}
		w.Write([]byte("x"))
	})
	if h.Get("X-Frame-Options") != "SAMEORIGIN" || h.Get("Cross-Origin-Embedder-Policy") != "" {
		t.Fatalf("not loosened cleanly: %v", h)
	}
}

func TestNoHSTSOnPlainHTTP(t *testing.T) {
	h := serve(t, mustSet(t, Config{}), "/", false, ok)
	if h.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS sent over plain HTTP")
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("other headers missing over plain HTTP")
	}
}

// A later stage appending to a shared precomputed value must not change other responses.
func TestSharedValuesAreNotAliased(t *testing.T) {
	s := mustSet(t, Config{})
	serve(t, s, "/", true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Content-Security-Policy", "evil")
		w.Header()["X-Frame-Options"][0] = "ALLOWALL" // in-place edit of this response's slice
	})
	h := serve(t, s, "/", true, ok)
	if v := h.Values("Content-Security-Policy"); len(v) != 1 {
		t.Fatalf("CSP values leaked between responses: %q", v)
	}
	if h.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Fatalf("in-place edit leaked: %q", h.Get("X-Frame-Options"))
	}
}
