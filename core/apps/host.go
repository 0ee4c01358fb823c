package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"bulwark/core/egress"
	"bulwark/core/event"
	"bulwark/core/sandbox"
)

// FetchRequest is an app's outbound request that passed the manifest's allowlist.
type FetchRequest struct {
	URL      string
	Method   string
	Header   []string // name, value pairs
	Body     []byte
	Redirect string // "follow", "manual" or "error"
	Timeout  time.Duration
	MaxBody  int
}

// FetchResponse is what came back.
type FetchResponse struct {
	Status     int
	StatusText string
	Header     []string
	Body       []byte
	URL        string // after redirects
	Redirected bool
}

// KVPage is one page of keys.
type KVPage struct {
	Keys     []string
	Cursor   string
	Complete bool
}

// KV is the per-app key-value store; Put enforces quotaBytes over the app's namespace.
type KV interface {
	Get(ctx context.Context, app, key string) (value []byte, ok bool, err error)
	Put(ctx context.Context, app, key string, value []byte, quotaBytes int) error
	Delete(ctx context.Context, app, key string) error
	List(ctx context.Context, app, prefix, cursor string, limit int) (KVPage, error)
}

// ErrEgressDenied marks a fetch refused by policy (an address check at dial time, a redirect
// to a host off the list); such refusals become egress_denied events.
var ErrEgressDenied = errors.New("egress denied")

// Capabilities are what apps may ask the appliance for; a nil field refuses that capability.
type Capabilities struct {
	// Fetch, when set, replaces core/egress (tests); it must check the resolved address at
	// dial time and each redirect, and wrap refusals in ErrEgressDenied.
	Fetch    func(ctx context.Context, app string, allow []string, r FetchRequest) (*FetchResponse, error)
	KV       KV
	Sanitize func(html, policy string) (string, error)
	Secrets  func(app, name string) (string, error)
	// OnLogin runs when an app reports ctx.security.loginSucceeded, synchronously, before the
	// app's call returns, so before the request's response headers can go out: the appliance
	// rotates the session and CSRF token of that request (csrf.Protector.RotateRequest).
	// requestID is the request's verdict id.
	OnLogin func(requestID string)
}

func (c Capabilities) secret(app, name string) (string, error) {
	if c.Secrets == nil {
		return "", fmt.Errorf("secret %q: no secret store configured", name)
	}
	return c.Secrets(app, name)
}

// appHost serves one version's capability calls.
type appHost struct {
	m   *Manager
	dep *deployment
}

// ugc is the sanitizer until the appliance's own is wired in: bluemonday's user-content policy.
var ugc = bluemonday.UGCPolicy()

func (h *appHost) Call(c sandbox.Call) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(h.dep.limits.WallMs)*time.Millisecond)
	defer cancel()
	caps := h.m.cfg.Caps
	switch c.Op {
	case "fetch":
		return h.fetch(ctx, c)
	case "kv.get", "kv.put", "kv.delete", "kv.list":
		return h.kv(ctx, c)
	}
	var a sandbox.TextArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return nil, fmt.Errorf("%s: bad arguments", c.Op)
	}
	switch c.Op {
	case "secret":
		ref, ok := h.dep.secrets[a.Name]
		if !ok {
			return nil, fmt.Errorf("env.%s is not a secret of this app", a.Name)
		}
		val, err := caps.secret(c.App, ref)
		if err != nil {
			return nil, fmt.Errorf("env.%s: %w", a.Name, err)
		}
		return json.Marshal(val)
	case "sanitize":
		out := ""
		if caps.Sanitize != nil {
			s, err := caps.Sanitize(a.HTML, a.Policy)
			if err != nil {
				return nil, fmt.Errorf("sanitizeHTML: %w", err)
			}
			out = s
		} else {
			out = ugc.Sanitize(a.HTML)
		}
		return json.Marshal(out)
	case "security":
		kind, sev := event.LoginFailed, event.Low
		switch a.Kind {
		case "login_failed":
		case "login_succeeded":
			kind, sev = event.Kind("login_succeeded"), event.Info
			// Only a request this app is answering: c.App comes from the supervisor, the
			// request id from the worker, which must not reach another app's visitors.
			if caps.OnLogin != nil && h.request(c) != nil {
				caps.OnLogin(c.RequestID)
			}
		case "account_changed":
			kind, sev = event.AccountChanged, event.Medium
		default:
			return nil, fmt.Errorf("ctx.security: unknown signal %q", a.Kind)
		}
		h.m.events.Emit(h.event(c, kind, sev, "app_signal", map[string]any{"user": trunc(a.User, 200), "field": trunc(a.Field, 100)}))
		return []byte("null"), nil
	}
	return nil, fmt.Errorf("%s: no such capability", c.Op)
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// inflight is a request being answered by an app.
type inflight struct {
	app string
	req *sandbox.Request
}

// request is the in-flight request a capability call names, when the calling app is the
// one answering it (nil otherwise: health checks, cron runs, another app's request ids).
func (h *appHost) request(c sandbox.Call) *sandbox.Request {
	v, ok := h.m.inflight.Load(c.RequestID)
	if !ok {
		return nil
	}
	f := v.(*inflight)
	if f.app != c.App {
		return nil
	}
	return f.req
}

// event builds an event for a capability call with the fields of the request that made it.
func (h *appHost) event(c sandbox.Call, kind event.Kind, sev event.Severity, rule string, detail map[string]any) event.Event {
	e := event.Event{TS: time.Now().UTC(), Kind: kind, Severity: sev, Action: event.Logged, App: c.App, Rule: rule}
	if req := h.request(c); req != nil {
		e.IP, e.Method, e.Host, e.Path = req.IP, req.Method, req.Host, req.Path
	}
	if detail == nil {
		detail = map[string]any{}
	}
	detail["request_id"] = c.RequestID
	e.Detail = event.DetailJSON(detail)
	return e
}

// fetchHost checks an app's URL against its allowlist the way the manifest writes entries:
// https only, no userinfo, no IP literal, no trailing dot, lowercase ASCII host, ":port" only
// when not 443. Anything else is refused before a resolver or socket is involved.
func fetchHost(raw string, allow []string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("fetch: invalid URL")
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("fetch denied: only https URLs are allowed, not %q", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("fetch denied: URLs with userinfo are not allowed")
	}
	host := u.Hostname()
	if host == "" || strings.HasSuffix(host, ".") {
		return "", fmt.Errorf("fetch denied: host %q is not on the app's allowlist", host)
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return "", fmt.Errorf("fetch denied: IP address %s; list host names in permissions.fetch", host)
	}
	for _, r := range host {
		if r > 0x7e || r < 0x21 {
			return "", fmt.Errorf("fetch denied: host %q is not ASCII; list its punycode form", host)
		}
	}
	canon := strings.ToLower(host)
	if p := u.Port(); p != "" && p != "443" {
		canon += ":" + p
	}
	for _, a := range allow {
		if a == canon {
			return canon, nil
		}
	}
	return "", fmt.Errorf("fetch denied: %s is not on the app's allowlist", canon)
}

func (h *appHost) fetch(ctx context.Context, c sandbox.Call) ([]byte, error) {
	var a sandbox.FetchArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return nil, errors.New("fetch: bad arguments")
	}
	allow := h.dep.man.Permissions.Fetch
	_, err := fetchHost(a.URL, allow)
	var resp *FetchResponse
	if err == nil && h.m.cfg.Caps.Fetch != nil {
		hdr := make([]string, 0, 2*len(a.Header))
		for _, p := range a.Header {
			hdr = append(hdr, p[0], p[1])
		}
		resp, err = h.m.cfg.Caps.Fetch(ctx, c.App, allow, FetchRequest{URL: a.URL, Method: a.Method, Header: hdr,
			Body: a.Body, Redirect: a.Redirect, Timeout: time.Duration(h.dep.limits.WallMs) * time.Millisecond,
			MaxBody: h.dep.limits.SubrequestBodyBytes})
	} else if err == nil {
		// core/egress: address checked at dial time, each redirect re-checked, caps per request.
		hdr := http.Header{}
		for _, p := range a.Header {
			hdr.Add(p[0], p[1])
		}
		var r *egress.Response
		r, err = h.m.session(c.RequestID, h.dep).Do(ctx, egress.Request{Method: a.Method, URL: a.URL, Header: hdr,
			Body: a.Body, Redirect: a.Redirect})
		if err == nil {
			resp = &FetchResponse{Status: r.Status, StatusText: r.StatusText, Body: r.Body, URL: r.URL, Redirected: r.Redirected}
			for k, vs := range r.Header {
				for _, v := range vs {
					resp.Header = append(resp.Header, k, v)
				}
			}
		}
	}
	if err != nil {
		var d *egress.Denied
		rule := "egress"
		if errors.As(err, &d) {
			rule = "egress." + d.Rule
		}
		if rule != "egress" || strings.Contains(err.Error(), "denied") || errors.Is(err, ErrEgressDenied) {
			h.m.events.Emit(h.event(c, event.EgressDenied, event.Medium, rule, map[string]any{
				"url": trunc(redactQuery(a.URL), 300), "figure": err.Error()}))
		}
		return nil, err
	}
	rep := sandbox.FetchReply{Status: resp.Status, StatusText: resp.StatusText, Body: resp.Body, URL: resp.URL, Redirected: resp.Redirected}
	for i := 0; i+1 < len(resp.Header); i += 2 {
		rep.Header = append(rep.Header, [2]string{resp.Header[i], resp.Header[i+1]})
	}
	return json.Marshal(rep)
}

func (h *appHost) kv(ctx context.Context, c sandbox.Call) ([]byte, error) {
	if h.dep.man.Permissions.KV == nil {
		return nil, fmt.Errorf("%s: this app has no kv permission in app.json", c.Op)
	}
	kv := h.m.cfg.Caps.KV
	if kv == nil {
		return nil, fmt.Errorf("%s: the key-value store is not configured on this appliance", c.Op)
	}
	var a sandbox.KVArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return nil, fmt.Errorf("%s: bad arguments", c.Op)
	}
	switch c.Op {
	case "kv.get":
		v, ok, err := kv.Get(ctx, c.App, a.Key)
		if err != nil {
			return nil, err
		}
		return json.Marshal(sandbox.KVReply{Found: ok, Value: v})
	case "kv.put":
		return []byte("null"), kv.Put(ctx, c.App, a.Key, a.Value, h.dep.limits.KVQuotaBytes)
	case "kv.delete":
		return []byte("null"), kv.Delete(ctx, c.App, a.Key)
	default:
		page, err := kv.List(ctx, c.App, a.Prefix, a.Cursor, max(1, min(a.Limit, 1000)))
		if err != nil {
			return nil, err
		}
		return json.Marshal(sandbox.KVReply{Keys: page.Keys, Cursor: page.Cursor, Complete: page.Complete})
	}
}

// redactQuery drops a URL's query, which may carry tokens, before it goes into an event.
func redactQuery(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		u.RawQuery, u.Fragment, u.User = "", "", nil
		return u.String()
	}
	return raw
}

// session returns the egress session of one incoming request (its fetch count and
// concurrency caps), creating it on the first fetch.
func (m *Manager) session(reqID string, dep *deployment) *egress.Session {
	if s, ok := m.sessions.Load(reqID); ok {
		return s.(*egress.Session)
	}
	s, _ := m.sessions.LoadOrStore(reqID, dep.egress.Session())
	return s.(*egress.Session)
}

// LogLine is one console line of an app.
type LogLine struct {
	TS        time.Time
	RequestID string
	Level     string
	Line      string
}

// logBook keeps each app's last lines in memory for the admin API.
type logBook struct {
	mu  sync.Mutex
	max int
	m   map[string][]LogLine
}

func newLogBook(max int) *logBook { return &logBook{max: max, m: map[string][]LogLine{}} }

func (b *logBook) Log(app, reqID, level, line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := append(b.m[app], LogLine{TS: time.Now().UTC(), RequestID: reqID, Level: level, Line: line})
	if len(l) > b.max {
		l = append(l[:0], l[len(l)-b.max:]...)
	}
	b.m[app] = l
}

func (b *logBook) lines(app string) []LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]LogLine(nil), b.m[app]...)
}
