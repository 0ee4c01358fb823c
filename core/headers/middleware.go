package headers

import (
	"errors"
	"fmt"
	"net/http"
)

// Middleware sets the operator's profile for the request path on the response before the
// next stage runs (so refusals by later defenses carry the headers too) and strips the
// advertising headers (Server, X-Powered-By, ...) when the response is written.
func (s *Set) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.ForPath(r.URL.Path)
		isTLS := r.TLS != nil
		p.apply(w.Header(), isTLS)
		next.ServeHTTP(&writer{ResponseWriter: w, set: s, operator: p, current: p, tls: isTLS}, r)
	})
}

// ErrLoosen is returned by Use when a looser profile than the operator's was asked for and
// headers.allow_app_loosen is off.
var ErrLoosen = errors.New("a looser security-header profile than the operator's needs headers.allow_app_loosen")

// Use switches the response in w to the named profile, for a stage after Middleware (the
// router applying an app's manifest). It must be called before the response is written.
// A stricter profile is always accepted; a looser one only when the operator allowed it.
func Use(w http.ResponseWriter, name string) error {
	hw := find(w)
	if hw == nil {
		return errors.New("headers: response does not pass through the headers middleware")
	}
	p := hw.set.Profile(name)
	if p == nil {
		return fmt.Errorf("headers: unknown profile %q", name)
	}
	if !p.Stricter(hw.operator) && !hw.set.allowLoosen {
		return fmt.Errorf("headers: profile %q for %q: %w", name, hw.operator.Name, ErrLoosen)
	}
	if hw.wrote {
		return errors.New("headers: response already written")
	}
	h := hw.Header()
	for _, f := range hw.current.fields {
		delete(h, f.key)
	}
	p.apply(h, hw.tls)
	hw.current = p
	return nil
}

func find(w http.ResponseWriter) *writer {
	for w != nil {
		if hw, ok := w.(*writer); ok {
			return hw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// writer strips the advertising headers on the first write.
type writer struct {
	http.ResponseWriter
	set      *Set
	operator *Profile // what the operator's configuration chose for this path
	current  *Profile
	tls      bool
	wrote    bool
}

func (w *writer) strip() {
	h := w.ResponseWriter.Header()
	for _, k := range removed {
		delete(h, k)
	}
}

func (w *writer) WriteHeader(code int) {
	if !w.wrote {
		w.strip()
		if code >= 200 || code == http.StatusSwitchingProtocols {
			w.wrote = true
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.wrote {
		w.strip()
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming responses through; the headers are final once flushed.
func (w *writer) Flush() {
	if !w.wrote {
		w.strip()
		w.wrote = true
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
