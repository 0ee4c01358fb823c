// Package csrf refuses cross-site request forgery in front of the apps. It layers two checks:
// Go's http.CrossOriginProtection (Fetch Metadata, then Origin against Host; trusted origins
// compared with their scheme), and a synchronizer token bound to the appliance's own session
// cookie, injected into every POST form of HTML responses by a streaming rewriter and accepted
// back from the form field or the X-CSRF-Token header.
//
// It is not gorilla/csrf, whose trusted-origin check ignores the scheme (CVE-2025-47909).
// It does not manage app sessions: the session cookie here exists only to bind the token.
package csrf

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

const (
	// CookieName is the appliance's session cookie. The __Host- prefix makes the browser
	// insist on Secure, Path=/ and no Domain, so a sibling subdomain cannot plant it.
	CookieName = "__Host-bulwark-session"
	// FieldName is the hidden form field carrying the token (Django's name, which many form
	// libraries already pass through).
	FieldName = "csrfmiddlewaretoken"
	// HeaderName carries the token for scripts; HTML responses also expose it under this name.
	HeaderName = "X-CSRF-Token"
)

// Options configures a Protector.
type Options struct {
	// TrustedOrigins may post cross-origin: "https://admin.example.com" (scheme, host, optional
	// port; nothing else).
	TrustedOrigins []string
	// Key derives the tokens; 32 random bytes. Empty means a fresh key per process (tokens
	// then die with a restart, which only costs a form reload).
	Key []byte
	// MaxFormBody bounds how much of a form body is read to find the token field (default
	// 8 MiB); larger forms must send the X-CSRF-Token header.
	MaxFormBody int64
	Sink        event.Sink
	// ModeOf picks the check for a request (an app's manifest may turn it off for some paths,
	// or to report only); nil enforces everywhere.
	ModeOf func(*http.Request) Mode
}

// Mode is how the check treats one request.
type Mode int

const (
	Enforce Mode = iota // refuse a forged request with 403
	Report              // log a forged request (csrf event, action logged) and let it through
	Skip                // no check (a webhook path the app exempted)
)

// Protector holds the configured checks.
type Protector struct {
	live    sync.Map // request id → *state, while the request is in the Inject stage
	cop     *http.CrossOriginProtection
	key     []byte
	maxForm int64
	sink    event.Sink
	modeOf  func(*http.Request) Mode
}

// New validates opts. A malformed trusted origin is an error naming it.
func New(opts Options) (*Protector, error) {
	p := &Protector{cop: http.NewCrossOriginProtection(), key: opts.Key, maxForm: opts.MaxFormBody, sink: opts.Sink, modeOf: opts.ModeOf}
	for i, o := range opts.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("guard.csrf.trusted_origins[%d]: %q is not an origin; write scheme://host[:port], e.g. https://admin.example.com", i, o)
		}
		if err := p.cop.AddTrustedOrigin(strings.TrimSuffix(o, "/")); err != nil {
			return nil, fmt.Errorf("guard.csrf.trusted_origins[%d]: %w", i, err)
		}
	}
	if len(p.key) == 0 {
		p.key = make([]byte, 32)
		rand.Read(p.key)
	}
	if p.maxForm <= 0 {
		p.maxForm = 8 << 20
	}
	if p.sink == nil {
		p.sink = event.Discard
	}
	// The deny handler is never reached: Check is called directly.
	return p, nil
}

// token derives the session's token: HMAC(key, session id). The session id is the
// per-session secret; it never leaves the HttpOnly cookie.
func (p *Protector) token(sid string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("csrf-token\x00"))
	m.Write([]byte(sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionOf(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 64 {
		return ""
	}
	return c.Value
}

func sessionCookie(sid string) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: sid, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// Rotate gives the client a fresh session (and so a fresh token). The sandbox calls it when
// the app reports loginSucceeded, so a token planted before login is worthless after it. It
// must run before the response headers are written; it returns the new token.
func (p *Protector) Rotate(w http.ResponseWriter, r *http.Request) string {
	sid := newSessionID()
	http.SetCookie(w, sessionCookie(sid))
	tok := p.token(sid)
	if st := stateOf(r); st != nil {
		st.set(tok, "")
	}
	return tok
}

// RotateRequest is Rotate for callers that hold only the request id (verdict.Info.ID), such
// as the sandbox's capability handler when an app reports loginSucceeded: the new session
// cookie and token go out with that request's response headers. It reports whether the
// request is still in flight with its headers unwritten.
func (p *Protector) RotateRequest(id string) bool {
	v, ok := p.live.Load(id)
	if !ok {
		return false
	}
	st := v.(*state)
	sid := newSessionID()
	return st.set(p.token(sid), sid)
}

type stateKey struct{}

// state lets Rotate, called deep in the handler (or from another goroutine through
// RotateRequest), change the token the rewriter injects.
type state struct {
	mu      sync.Mutex
	token   string
	pending string // session id to send when headers are written
	sent    bool
}

func (s *state) set(token, pendingSID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return false
	}
	s.token = token
	if pendingSID != "" {
		s.pending = pendingSID
	}
	return true
}

// seal returns the token and any pending session id and freezes both.
func (s *state) seal() (token, pendingSID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = true
	return s.token, s.pending
}

func stateOf(r *http.Request) *state {
	st, _ := r.Context().Value(stateKey{}).(*state)
	return st
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// Check is the request-side stage: unsafe requests must pass the origin check, and when the
// client has a session cookie also carry its token. Every response varies on the headers the
// decision read.
func (p *Protector) Check() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Sec-Fetch-Site, Origin")
			if !unsafeMethod(r.Method) {
				next.ServeHTTP(w, r)
				return
			}
			mode := Enforce
			if p.modeOf != nil {
				mode = p.modeOf(r)
			}
			if mode == Skip {
				next.ServeHTTP(w, r)
				return
			}
			if mode == Report {
				// Run the same checks, log what they would refuse, then let the request through.
				p.check(discard{h: http.Header{}}, r, mode, func(http.ResponseWriter, *http.Request) {})
				next.ServeHTTP(w, r)
				return
			}
			p.check(w, r, mode, next.ServeHTTP)
		})
	}
}

// discard swallows the refusal page of a report-only check.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func (p *Protector) check(w http.ResponseWriter, r *http.Request, mode Mode, next func(http.ResponseWriter, *http.Request)) {
	if err := p.cop.Check(r); err != nil {
		p.refuse(w, r, mode, "origin", map[string]string{"reason": err.Error(), "origin": r.Header.Get("Origin"), "sec_fetch_site": r.Header.Get("Sec-Fetch-Site")})
		return
	}
	sid := sessionOf(r)
	if sid == "" {
		next(w, r) // no session: nothing to forge with beyond what the origin check covers
		return
	}
	got := r.Header.Get(HeaderName)
	if got == "" {
		var err error
		if got, err = p.formToken(r); err != nil {
			p.refuse(w, r, mode, "token-unreadable", map[string]string{"reason": err.Error()})
			return
		}
	}
	want := p.token(sid)
	if got == "" {
		p.refuse(w, r, mode, "token-missing", map[string]string{"reason": "no " + FieldName + " field and no " + HeaderName + " header"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		p.refuse(w, r, mode, "token-mismatch", map[string]string{"reason": "token does not belong to this session"})
		return
	}
	next(w, r)
}

// formToken reads the token field from a urlencoded or multipart body and puts the body back
// for the app. Bodies above MaxFormBody are refused rather than half-read.
func (p *Protector) formToken(r *http.Request) (string, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ct != "application/x-www-form-urlencoded" && ct != "multipart/form-data") || r.Body == nil {
		return "", nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, p.maxForm+1))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("read form body: %w", err)
	}
	if int64(len(body)) > p.maxForm {
		return "", fmt.Errorf("form body over %d bytes; send the token in the %s header", p.maxForm, HeaderName)
	}
	if ct == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return "", fmt.Errorf("parse form: %w", err)
		}
		return v.Get(FieldName), nil
	}
	mr := multipartReader(body, params["boundary"])
	if mr == nil {
		return "", fmt.Errorf("multipart form without boundary")
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			return "", nil
		}
		if part.FormName() == FieldName {
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			return string(b), nil
		}
	}
}

func (p *Protector) refuse(w http.ResponseWriter, r *http.Request, mode Mode, rule string, detail map[string]string) {
	action := event.Blocked
	if mode == Report {
		action = event.Logged
	}
	verdict.From(r.Context()).Record(event.CSRF, action, rule, 0)
	p.sink.Emit(verdict.Event(r, event.CSRF, event.Medium, action, rule, detail))
	const body = "<!doctype html><html lang=en><head><meta charset=utf-8><title>Cross-site request refused</title></head>" +
		"<body><h1>Cross-site request refused</h1><p>This request did not come from a page of this site, or the page it came from has expired. " +
		"Go back, reload the page and try again.</p></body></html>\n"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, body)
}
