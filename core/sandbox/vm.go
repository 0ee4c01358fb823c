package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"bulwark/core/jsrt"
)

// AppGlobal is the global the bundled program assigns its module namespace to (core/bundle's
// GlobalName); the default export's fetch and scheduled are the handlers.
const AppGlobal = "__bulwark_app"

// compiled is the app version's code, compiled once per worker and run in every runtime.
type compiled struct {
	app *goja.Program
}

func compile(spec *Spec) (*compiled, error) {
	app, err := goja.Compile(spec.App+".js", spec.Program, true)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", spec.App, err)
	}
	return &compiled{app: app}, nil
}

// vm is one warm runtime: core/jsrt's Web API over a goja runtime, whose capability calls go
// to the supervisor for the request the runtime serves now.
type vm struct {
	w      *worker
	js     *jsrt.VM
	rt     *goja.Runtime
	cur    atomic.Pointer[reqState] // read by host calls on jsrt's goroutines
	uses   int
	broken bool
}

func newVM(w *worker) (v *vm, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runtime setup panicked: %v", r)
		}
	}()
	v = &vm{w: w}
	env := map[string]string{}
	for i := 0; i+1 < len(w.spec.Env); i += 2 {
		env[w.spec.Env[i]] = w.spec.Env[i+1]
	}
	js, err := jsrt.New(w.code.app, vmHost{v}, jsrt.Options{Env: env, Secrets: w.spec.Secrets, KV: w.spec.KV,
		StackDepth: w.lim.StackDepth, LogLineBytes: w.lim.LogLineBytes, MaxBodyBytes: w.lim.ResponseBodyBytes,
		MaxPending: max(w.lim.Subrequests, 8)})
	if err != nil {
		return nil, fmt.Errorf("app start: %w", err)
	}
	v.js, v.rt = js, js.Runtime()
	return v, nil
}

// run serves one request on this runtime, on the caller's (locked) thread.
func (v *vm) run(st *reqState) (resp *Response, rerr *Error) {
	defer func() {
		if r := recover(); r != nil {
			v.broken = true
			resp, rerr = nil, &Error{Outcome: Exception, Msg: fmt.Sprintf("runtime failure: %v", r)}
		}
		v.cur.Store(nil)
	}()
	v.cur.Store(st)
	ctx, cancel := context.WithDeadline(context.Background(), st.deadline)
	defer cancel()
	req := st.req
	if req.Cron != "" {
		err := v.js.Scheduled(ctx, jsrt.ScheduledEvent{ID: req.ID, Cron: req.Cron, Time: time.Now()})
		if err != nil {
			return nil, v.classify(err)
		}
		return &Response{Status: 204}, nil
	}
	r, err := v.js.Handle(ctx, jsrt.Request{ID: req.ID, Method: req.Method, URL: req.URL, Flat: req.Header, Body: req.Body})
	if err != nil {
		return nil, v.classify(err)
	}
	// Let ctx.waitUntil work finish before the runtime serves anyone else.
	if err := v.js.Drain(ctx); err != nil {
		v.broken = true
	}
	return &Response{Status: r.Status, Header: r.Flat, Body: r.Body}, nil
}

func (v *vm) classify(err error) *Error {
	var ie *jsrt.InterruptedError
	var se *jsrt.ScriptError
	switch {
	case errors.As(err, &ie):
		if h, ok := ie.Reason.(*limitHit); ok {
			return &Error{Outcome: h.o, Msg: "interrupted"}
		}
		return &Error{Outcome: CPULimit, Msg: "interrupted"}
	case errors.Is(err, jsrt.ErrDeadline):
		return &Error{Outcome: WallLimit, Figure: fmt.Sprintf("wall %s", v.w.lim.Wall)}
	case errors.Is(err, jsrt.ErrStackOverflow):
		return &Error{Outcome: StackLimit, Figure: fmt.Sprintf("call depth above %d", v.w.lim.StackDepth)}
	case errors.Is(err, jsrt.ErrTooLarge):
		return &Error{Outcome: TooLarge, Figure: fmt.Sprintf("response body above %d bytes", v.w.lim.ResponseBodyBytes)}
	case errors.Is(err, jsrt.ErrBroken):
		v.broken = true
		return &Error{Outcome: Exception, Msg: err.Error()}
	case errors.As(err, &se):
		return &Error{Outcome: Exception, Msg: "uncaught " + truncate(se.Error(), 1024)}
	}
	return &Error{Outcome: Exception, Msg: truncate(err.Error(), 1024)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Capability calls travel as JSON of these shapes; core/apps decodes them on the other side.
type (
	// FetchArgs is an app's outgoing request.
	FetchArgs struct {
		URL      string      `json:"url"`
		Method   string      `json:"method"`
		Header   [][2]string `json:"headers"`
		Body     []byte      `json:"body"`
		Redirect string      `json:"redirect"`
	}
	// FetchReply is its answer.
	FetchReply struct {
		Status     int         `json:"status"`
		StatusText string      `json:"statusText"`
		Header     [][2]string `json:"headers"`
		Body       []byte      `json:"body"`
		URL        string      `json:"url"`
		Redirected bool        `json:"redirected"`
	}
	// KVArgs are the arguments of kv.get, kv.put, kv.delete and kv.list.
	KVArgs struct {
		Key    string `json:"key,omitempty"`
		Value  []byte `json:"value,omitempty"`
		Prefix string `json:"prefix,omitempty"`
		Cursor string `json:"cursor,omitempty"`
		Limit  int    `json:"limit,omitempty"`
	}
	// KVReply is the answer of kv.get (Found, Value) and kv.list (Keys, Cursor, Complete).
	KVReply struct {
		Found    bool     `json:"found,omitempty"`
		Value    []byte   `json:"value,omitempty"`
		Keys     []string `json:"keys,omitempty"`
		Cursor   string   `json:"cursor,omitempty"`
		Complete bool     `json:"complete,omitempty"`
	}
	// TextArgs are the arguments of secret (Name), sanitize (HTML, Policy) and security
	// (Kind, User, Field).
	TextArgs struct {
		Name   string `json:"name,omitempty"`
		HTML   string `json:"html,omitempty"`
		Policy string `json:"policy,omitempty"`
		Kind   string `json:"kind,omitempty"`
		User   string `json:"user,omitempty"`
		Field  string `json:"field,omitempty"`
	}
)

func pairs(h http.Header) [][2]string {
	var out [][2]string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// vmHost is jsrt's Host inside a worker: every call becomes a capability request to the
// supervisor for the request the runtime serves now.
type vmHost struct{ v *vm }

func (h vmHost) call(op string, args any, reply any) error {
	st := h.v.cur.Load()
	if st == nil {
		return errors.New(op + ": no request in progress")
	}
	if op == "fetch" {
		if n := st.subreqs.Add(1); int(n) > h.v.w.lim.Subrequests {
			return fmt.Errorf("fetch denied: subrequest limit of %d reached", h.v.w.lim.Subrequests)
		}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	data, err := h.v.w.call(st, op, b)
	if err != nil {
		return err
	}
	if reply == nil {
		return nil
	}
	if err := json.Unmarshal(data, reply); err != nil {
		return fmt.Errorf("%s: bad answer from the appliance", op)
	}
	return nil
}

func (h vmHost) Fetch(ctx context.Context, r jsrt.FetchRequest) (jsrt.FetchResponse, error) {
	var rep FetchReply
	err := h.call("fetch", FetchArgs{URL: r.URL, Method: r.Method, Header: pairs(r.Header), Body: r.Body, Redirect: r.Redirect}, &rep)
	if err != nil {
		return jsrt.FetchResponse{}, err
	}
	hdr := http.Header{}
	for _, p := range rep.Header {
		hdr.Add(p[0], p[1])
	}
	return jsrt.FetchResponse{Status: rep.Status, StatusText: rep.StatusText, Header: hdr, Body: rep.Body, URL: rep.URL, Redirected: rep.Redirected}, nil
}

func (h vmHost) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	var rep KVReply
	err := h.call("kv.get", KVArgs{Key: key}, &rep)
	return rep.Value, rep.Found, err
}

func (h vmHost) KVPut(ctx context.Context, key string, value []byte) error {
	return h.call("kv.put", KVArgs{Key: key, Value: value}, nil)
}

func (h vmHost) KVDelete(ctx context.Context, key string) error {
	return h.call("kv.delete", KVArgs{Key: key}, nil)
}

func (h vmHost) KVList(ctx context.Context, prefix, cursor string, limit int) (jsrt.KVPage, error) {
	var rep KVReply
	err := h.call("kv.list", KVArgs{Prefix: prefix, Cursor: cursor, Limit: limit}, &rep)
	return jsrt.KVPage{Keys: rep.Keys, Cursor: rep.Cursor, Complete: rep.Complete}, err
}

func (h vmHost) Secret(ctx context.Context, name string) (string, error) {
	var s string
	err := h.call("secret", TextArgs{Name: name}, &s)
	return s, err
}

func (h vmHost) Sanitize(ctx context.Context, html, policy string) (string, error) {
	var s string
	err := h.call("sanitize", TextArgs{HTML: html, Policy: policy}, &s)
	return s, err
}

func (h vmHost) Security(ctx context.Context, sig jsrt.SecuritySignal) error {
	return h.call("security", TextArgs{Kind: sig.Kind, User: sig.User, Field: sig.Field}, nil)
}

func (h vmHost) Log(ctx context.Context, level, line string) {
	if st := h.v.cur.Load(); st != nil {
		h.v.w.log(st, level, line)
	}
}
