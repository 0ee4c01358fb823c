// Package cookies hardens the cookies apps set: every Set-Cookie leaving the appliance gets
// HttpOnly, Secure and SameSite=Lax (a stricter SameSite the app chose is kept) unless the
// app's manifest exempts that cookie by name. Apps run JavaScript written by others; this
// makes a forgotten flag not become a session theft. It does not touch request cookies.
package cookies

import (
	"net/http"
	"strings"

	"bulwark/core/verdict"
)

// Exempt reports whether app may send cookie name without the forced flags (from the app
// manifest). nil exempts nothing.
type Exempt func(app, name string) bool

// Harden returns the response-side stage.
func Harden(exempt Exempt) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&writer{ResponseWriter: w, r: r, exempt: exempt}, r)
		})
	}
}

type writer struct {
	http.ResponseWriter
	r      *http.Request
	exempt Exempt
	done   bool
}

func (w *writer) WriteHeader(code int) {
	if !w.done {
		w.done = true
		app, _, _, _, _ := verdict.From(w.r.Context()).Snapshot()
		Rewrite(w.Header(), app, w.exempt)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.done {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Rewrite hardens every Set-Cookie in h in place.
func Rewrite(h http.Header, app string, exempt Exempt) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		out = append(out, harden(line, app, exempt))
	}
	h["Set-Cookie"] = out
}

func harden(line, app string, exempt Exempt) string {
	c, err := http.ParseSetCookie(line)
	if err != nil {
		// Unparseable by Go but maybe not by a browser: append the flags (the last wins).
		name, _, _ := strings.Cut(line, "=")
		if exempt != nil && exempt(app, strings.TrimSpace(name)) {
			return line
		}
		return line + "; HttpOnly; Secure; SameSite=Lax"
	}
	if exempt != nil && exempt(app, c.Name) {
		return line
	}
	c.HttpOnly = true
	c.Secure = true
	if c.SameSite != http.SameSiteStrictMode {
		c.SameSite = http.SameSiteLaxMode
	}
	if s := c.String(); s != "" {
		return s
	}
	return line + "; HttpOnly; Secure; SameSite=Lax"
}
