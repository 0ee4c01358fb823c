package waf

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"bulwark/core/config"
	"bulwark/core/detect"
	"bulwark/core/event"
	"bulwark/core/verdict"
)

// WAF is the request-path stage: the compiled engine, the current policy, and where events
// go. Engine and policy are swapped atomically, so a change never stalls requests.
type WAF struct {
	engine atomic.Pointer[Engine]
	policy atomic.Pointer[Policy]
	sink   event.Sink
	appOf  func(*http.Request) string
	// crsOnly runs CRS without the second detector and its vetoes: the baseline of the
	// detector's benchmark and detection table, never set in the appliance.
	crsOnly bool
}

// New returns the stage for c, compiling the rules (about 1.6 s of CPU) the first time
// these engine settings are used in the process (see SharedEngine). appOf names the app
// a request is for, so per-app modes and exclusions apply before the router runs; nil means
// per-app entries never match (only global and path entries do). sink receives one event
// per rule match; nil discards.
func New(c config.WAF, sink event.Sink, appOf func(*http.Request) string) (*WAF, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	e, err := SharedEngine(Settings{Paranoia: c.Paranoia, InboundThreshold: c.InboundThreshold,
		OutboundThreshold: c.OutboundThreshold, BodyLimit: c.BodyLimit})
	if err != nil {
		return nil, err
	}
	if sink == nil {
		sink = event.Discard
	}
	if appOf == nil {
		appOf = func(*http.Request) string { return "" }
	}
	w := &WAF{sink: sink, appOf: appOf}
	w.engine.Store(e)
	p := PolicyFrom(c)
	w.policy.Store(&p)
	return w, nil
}

// SetPolicy replaces modes and exclusions at run time; a bad policy is refused with an
// error naming the field and the old one stays.
func (w *WAF) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	w.policy.Store(&p)
	return nil
}

// Policy returns the current policy.
func (w *WAF) Policy() Policy { return *w.policy.Load() }

// Exclusions returns the current exclusions.
func (w *WAF) Exclusions() []config.WAFExclusion { return w.Policy().Exclusions }

// SetExclusions replaces only the exclusions.
func (w *WAF) SetExclusions(x []config.WAFExclusion) error {
	p := w.Policy()
	p.Exclusions = x
	return w.SetPolicy(p)
}

// Engine returns the compiled engine (for tools and tests).
func (w *WAF) Engine() *Engine { return w.engine.Load() }

// Middleware is the Pipeline.WAF stage.
func (w *WAF) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		pol := w.policy.Load()
		app := w.appOf(r)
		mode := pol.modeFor(app, r.URL.Path)
		if mode == Off {
			next.ServeHTTP(rw, r)
			return
		}
		e := w.engine.Load()
		req, err := requestFrom(r, e.set.BodyLimit)
		if err != nil {
			http.Error(rw, "request body could not be read", http.StatusBadRequest)
			return
		}
		excl := pol.exclusionsFor(app, r.URL.Path)
		res := e.Inspect(req, excl)
		var found []Match
		if !w.crsOnly {
			args := argsOf(r, req)
			res = vetoNoisy(e, req, excl, res, args)
			found = append(detectPath(req, excl), detectArgs(args, excl)...)
		}
		status := res.Status
		if !res.Block && len(found) > 0 {
			status = http.StatusForbidden
		}
		block := mode == Block && (res.Block || len(found) > 0)
		w.report(r, app, res, found, block)
		if block {
			refuse(rw, r, status)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// report turns every match (CRS and the second detector's) into an event and records the
// request's verdict.
func (w *WAF) report(r *http.Request, app string, res Result, found []Match, blocked bool) {
	if len(res.Matches) == 0 && !res.Block && len(found) == 0 {
		return
	}
	score := res.InboundScore + detectScore*len(found)
	action := event.Logged
	if blocked {
		action = event.Blocked
	}
	in := verdict.From(r.Context())
	if app != "" {
		in.SetApp(app)
	}
	all := res.Matches
	if len(found) > 0 {
		all = append(append([]Match(nil), res.Matches...), found...)
	}
	main := primary(all)
	for _, m := range all {
		detail := map[string]any{
			"msg": m.Msg, "variable": m.Variable, "data": m.Data, "score": score,
			"paranoia": w.engine.Load().set.Paranoia,
		}
		if detect.Ours(m.RuleID) {
			detail["detector"] = "bulwark"
		}
		ev := verdict.Event(r, Kind(m.RuleID), severity(m.Severity), action, strconv.Itoa(m.RuleID), detail)
		w.sink.Emit(ev)
	}
	kind, rule := event.WAF, strconv.Itoa(res.RuleID)
	if main != nil {
		kind, rule = Kind(main.RuleID), strconv.Itoa(main.RuleID)
	}
	if res.Block || main != nil {
		in.Record(kind, action, rule, score)
	}
}

// primary picks the match that names the attack best: the most severe, a specific kind
// before the generic one.
func primary(ms []Match) *Match {
	var best *Match
	bestScore := -1
	for i := range ms {
		s := event.SeverityRank(severity(ms[i].Severity)) * 2
		if Kind(ms[i].RuleID) != event.WAF {
			s++
		}
		if s > bestScore {
			best, bestScore = &ms[i], s
		}
	}
	return best
}

// requestFrom copies what the engine needs out of r, reading at most limit body bytes and
// putting them back in front of the rest so the app still gets the whole body.
func requestFrom(r *http.Request, limit int64) (*Request, error) {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	req := &Request{RemoteAddr: r.RemoteAddr, Method: r.Method, URI: uri, Proto: r.Proto, Host: r.Host}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Headers = append(req.Headers, [2]string{k, v})
		}
	}
	for _, te := range r.TransferEncoding {
		req.Headers = append(req.Headers, [2]string{"Transfer-Encoding", te})
	}
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, limit))
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		req.Body = b
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	}
	return req, nil
}

func refuse(rw http.ResponseWriter, r *http.Request, status int) {
	if status < 400 || status > 599 {
		status = http.StatusForbidden
	}
	id := verdict.From(r.Context()).ID
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	fmt.Fprintf(rw, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Request refused</title></head>
<body><h1>Request refused</h1>
<p>This request looked like an attack and was refused by the site's firewall.</p>
<p>If you believe this is a mistake, contact the site's operator and quote the reference <code>%s</code>.</p>
</body></html>
`, html.EscapeString(id))
}
