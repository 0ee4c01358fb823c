package server

import (
	"net"
	"net/http"
	"strconv"
)

// redirect sends plain-HTTP requests to the same host and path over HTTPS.
type redirect struct{ port int }

// Redirect returns the plain-HTTP handler: GET and HEAD get 301, other methods 308 (so a
// client repeats the method and body over HTTPS). port 443 is left out of the URL.
func Redirect(port int) http.Handler { return redirect{port} }

func (h redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	if host == "" || r.URL.Path == "" || r.URL.Path[0] != '/' {
		Error(w, r, http.StatusBadRequest)
		return
	}
	target := "https://"
	if h.port == 443 {
		if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			target += "[" + host + "]"
		} else {
			target += host
		}
	} else {
		target += net.JoinHostPort(host, strconv.Itoa(h.port))
	}
	target += r.URL.RequestURI()
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	w.Header().Set("Location", target)
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
}
