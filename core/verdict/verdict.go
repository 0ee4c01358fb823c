// Package verdict carries what the defenses decided about one request through its context,
// so that the access log, the router and the event emitters see one record per request. The
// server creates the record when the request arrives; each defense fills in its part.
package verdict

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"

	"bulwark/core/event"
)

// Info is the per-request record. Fields are set under the mutex because response-side
// defenses may run on other goroutines (streaming bodies).
type Info struct {
	ID    string    // request id, also sent as X-Request-Id
	IP    string    // client address without port
	Start time.Time // arrival

	mu     sync.Mutex
	app    string
	kind   event.Kind
	action event.Action
	rule   string
	score  int
}

type key struct{}

// New attaches a fresh record to r and returns the derived request.
func New(r *http.Request) (*http.Request, *Info) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	in := &Info{ID: NewID(), IP: ip, Start: time.Now()}
	return r.WithContext(context.WithValue(r.Context(), key{}, in)), in
}

// From returns the record of r, or a detached empty one (never nil) so callers need no check.
func From(ctx context.Context) *Info {
	if in, ok := ctx.Value(key{}).(*Info); ok {
		return in
	}
	return &Info{}
}

// NewID returns a 16-hex-digit random request id.
func NewID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SetApp records which app served the request.
func (in *Info) SetApp(app string) {
	in.mu.Lock()
	in.app = app
	in.mu.Unlock()
}

// Record notes a verdict. A blocking verdict is never replaced by a later logged one.
func (in *Info) Record(kind event.Kind, action event.Action, rule string, score int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.action != "" && in.action != event.Logged && action == event.Logged {
		return
	}
	in.kind, in.action, in.rule, in.score = kind, action, rule, score
}

// Snapshot returns the verdict fields.
func (in *Info) Snapshot() (app string, kind event.Kind, action event.Action, rule string, score int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.app, in.kind, in.action, in.rule, in.score
}

// Event builds an event for r with the request's fields filled in; callers set kind, severity,
// action, rule and detail. Its time is the request's arrival, so every event of one request
// carries the same TS (the guard counts a request once by it).
func Event(r *http.Request, kind event.Kind, sev event.Severity, action event.Action, rule string, detail any) event.Event {
	in := From(r.Context())
	app, _, _, _, _ := in.Snapshot()
	ip := in.IP
	if ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	ts := in.Start // every event of one request carries its arrival time
	if ts.IsZero() {
		ts = time.Now()
	}
	e := event.Event{
		TS: ts.UTC(), Kind: kind, Severity: sev, Action: action,
		IP: ip, Method: r.Method, Host: r.Host, Path: r.URL.Path, App: app, Rule: rule,
	}
	if detail != nil {
		e.Detail = event.DetailJSON(detail)
	}
	return e
}
