package jsrt

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/url"
)

// GlobalName is the global the bundled app assigns its module namespace to (core/bundle's
// IIFE); its "default" export holds fetch and scheduled.
const GlobalName = "__bulwark_app"

//go:embed prelude.js
var preludeSource string

var (
	preludeOnce sync.Once
	preludeProg *goja.Program
	preludeErr  error
)

// Prelude returns the compiled API prelude; it is shared by every runtime of the process.
func prelude() (*goja.Program, error) {
	preludeOnce.Do(func() {
		preludeProg, preludeErr = goja.Compile("jsrt-prelude.js", preludeSource, true)
	})
	return preludeProg, preludeErr
}

// VM is one app runtime with the API installed. It is not safe for concurrent use: one
// request at a time, on one goroutine (the sandbox locks it to an OS thread to measure CPU).
type VM struct {
	rt   *goja.Runtime
	host Host
	opts Options

	entry   *goja.Object // the prelude's entry points
	entFn   map[string]goja.Callable
	app     goja.Value // the bundle's module namespace
	gopd    goja.Callable
	errCtor *goja.Object
	proxyT  reflect.Type

	// Per-request state; touched only on the VM goroutine, except jobs (filled by host goroutines).
	hctx     context.Context // passed to Host calls; made on first use in a request (hostCtx)
	hcancel  context.CancelFunc
	reqCtx   context.Context // the current request's context, hctx's parent
	gen      uint64
	pending  int
	jobs     chan job
	broken   bool
	waits    bool // the current request called ctx.waitUntil: Drain has work
	timers   []timer
	timerSeq uint64
	active   bool // a request or scheduled event is being served (until Drain)
	// rejected holds promises rejected with no handler yet; whatever is left when a run
	// ends is logged, as browsers and Workers report unhandled rejections.
	rejected []*goja.Promise
	// resp is what host.respond received from the prelude's finish for the current request.
	resp    Response
	respErr error
	resped  bool
	flatRes bool // the request came as Flat: answer with Flat, not Header
}

// timer is a pending setTimeout; timers fire on the loop in deadline order, so they need no
// goroutine and keep their order under load.
type timer struct {
	at      time.Time
	seq     uint64
	resolve func(any) error
}

type job struct {
	gen uint64
	run func() error
}

// hideReflection makes any Go value that reaches the runtime (by mistake, or through a
// library) expose no fields or methods.
type hideReflection struct{}

func (hideReflection) FieldName(reflect.Type, reflect.StructField) string { return "" }
func (hideReflection) MethodName(reflect.Type, reflect.Method) string     { return "" }

// New creates a runtime, installs the API and runs the app's compiled bundle in it.
func New(prog *goja.Program, host Host, opts Options) (*VM, error) {
	v, err := Install(goja.New(), host, opts)
	if err != nil {
		return nil, err
	}
	if err := v.Load(prog); err != nil {
		return nil, err
	}
	return v, nil
}

// Install installs the API into rt (a fresh runtime) and returns its VM; call Load next.
func Install(rt *goja.Runtime, host Host, opts Options) (v *VM, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jsrt: install: %v", r)
		}
	}()
	opts = opts.withDefaults()
	pre, err := prelude()
	if err != nil {
		return nil, fmt.Errorf("jsrt: prelude: %w", err)
	}
	rt.SetFieldNameMapper(hideReflection{})
	v = &VM{rt: rt, host: host, opts: opts, jobs: make(chan job, 256), hctx: context.Background(), hcancel: func() {},
		proxyT: reflect.TypeOf(goja.Proxy{})}
	rt.SetPromiseRejectionTracker(func(p *goja.Promise, op goja.PromiseRejectionOperation) {
		if op == goja.PromiseRejectionReject {
			if len(v.rejected) < 100 {
				v.rejected = append(v.rejected, p)
			}
			return
		}
		for i, q := range v.rejected {
			if q == p {
				v.rejected = append(v.rejected[:i], v.rejected[i+1:]...)
				break
			}
		}
	})
	rt.SetMaxCallStackSize(opts.StackDepth)

	// Capture intrinsics before any app code can replace them.
	v.errCtor = rt.Get("Error").ToObject(rt)
	v.gopd, _ = goja.AssertFunction(rt.Get("Object").ToObject(rt).Get("getOwnPropertyDescriptor"))

	// URL and URLSearchParams from goja_nodejs, without enabling require.
	mod := rt.NewObject()
	exports := rt.NewObject()
	mod.Set("exports", exports)
	url.Require(rt, mod)
	for _, name := range []string{"URL", "URLSearchParams"} {
		rt.GlobalObject().DefineDataProperty(name, exports.Get(name), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}

	fn, err := rt.RunProgram(pre)
	if err != nil {
		return nil, fmt.Errorf("jsrt: prelude: %w", err)
	}
	call, ok := goja.AssertFunction(fn)
	if !ok {
		return nil, errors.New("jsrt: prelude is not a function")
	}
	ent, err := call(goja.Undefined(), v.bindings())
	if err != nil {
		return nil, fmt.Errorf("jsrt: prelude: %w", err)
	}
	v.entry = ent.ToObject(rt)
	v.entFn = map[string]goja.Callable{}
	for _, name := range []string{"setEnv", "fetch", "finish", "scheduled", "drain"} {
		f, ok := goja.AssertFunction(v.entry.Get(name))
		if !ok {
			return nil, fmt.Errorf("jsrt: prelude lacks %s", name)
		}
		v.entFn[name] = f
	}
	// env: plain values, secret names, KV flag.
	keys := make([]string, 0, len(opts.Env))
	for k := range opts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	plain := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		plain = append(plain, k, opts.Env[k])
	}
	secrets := make([]any, len(opts.Secrets))
	for i, s := range opts.Secrets {
		secrets[i] = s
	}
	if _, err := v.entFn["setEnv"](goja.Undefined(), rt.NewArray(plain...), rt.NewArray(secrets...), rt.ToValue(opts.KV)); err != nil {
		return nil, fmt.Errorf("jsrt: env: %w", v.scriptErr(err))
	}
	// What DESIGN.md says an app must not have.
	for _, name := range []string{"require", "process", "Deno", "Bun", "global", "module", "exports", "GoError"} {
		rt.GlobalObject().Delete(name)
	}
	return v, nil
}

// Load runs the app's compiled bundle and finds its module namespace.
func (v *VM) Load(prog *goja.Program) (err error) {
	defer v.recoverTo(&err)
	if _, err := v.rt.RunProgram(prog); err != nil {
		return fmt.Errorf("jsrt: app start: %w", v.scriptErr(err))
	}
	ns := v.rt.GlobalObject().Get(GlobalName)
	if ns == nil || goja.IsUndefined(ns) || goja.IsNull(ns) {
		return fmt.Errorf("jsrt: app start: the bundle defines no %s (build it with core/bundle)", GlobalName)
	}
	v.app = ns
	v.reportRejections(nil)
	return nil
}

// Runtime returns the underlying goja runtime (for Interrupt from a CPU timer, or tests).
func (v *VM) Runtime() *goja.Runtime { return v.rt }

// Interrupt stops the running script as soon as possible; the current Handle returns an
// *InterruptedError carrying reason. Safe to call from any goroutine.
func (v *VM) Interrupt(reason any) { v.rt.Interrupt(reason) }

// Broken reports whether a host function failed unexpectedly; such a runtime must be discarded.
func (v *VM) Broken() bool { return v.broken }

func (v *VM) recoverTo(err *error) {
	if r := recover(); r != nil {
		v.broken = true
		*err = fmt.Errorf("%w: %v", ErrBroken, r)
	}
}

// begin starts a request: a fresh generation so late results of the previous one are
// dropped, and a host context that outlives Handle (for ctx.waitUntil work, until Drain or
// the next request) but keeps the request's deadline.
func (v *VM) begin(ctx context.Context) func() {
	if v.hcancel != nil {
		v.hcancel()
	}
	// Most requests make no host call: the host context (and its deadline timer) is made
	// only when one does.
	v.hctx, v.hcancel, v.reqCtx = nil, nil, ctx
	v.gen++
	v.active = true
	v.pending = 0
	v.timers = v.timers[:0]
	v.waits = false
	v.resp, v.respErr, v.resped = Response{}, nil, false
	return v.watch(ctx)
}

// hostCtx is the context for Host calls of the current request (see begin).
func (v *VM) hostCtx() context.Context {
	if v.hctx == nil {
		base := context.WithoutCancel(v.reqCtx)
		if dl, ok := v.reqCtx.Deadline(); ok {
			v.hctx, v.hcancel = context.WithDeadline(base, dl)
		} else {
			v.hctx, v.hcancel = context.WithCancel(base)
		}
	}
	return v.hctx
}

// watch interrupts running script when ctx ends; the returned func stops watching.
func (v *VM) watch(ctx context.Context) func() {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		v.rt.Interrupt(ErrDeadline)
		close(fired)
	})
	return func() {
		if !stop() {
			// The interrupt may land after the script returned: wait for it, then clear it so
			// it cannot hit the next run.
			<-fired
			v.rt.ClearInterrupt()
		}
	}
}

// Close ends the runtime's outstanding host calls. Call it on the VM's goroutine when
// discarding the runtime.
func (v *VM) Close() {
	if v.hcancel != nil {
		v.hcancel()
	}
}

// Handle runs the app's fetch handler for req and returns its Response. ctx's deadline is the
// request's wall limit: it covers awaits and interrupts running script. After Handle, call
// Drain to let ctx.waitUntil work finish before the runtime serves another request.
//
// A request given as Flat pairs is answered with Response.Flat, one given as Header with
// Response.Header.
func (v *VM) Handle(ctx context.Context, req Request) (resp Response, err error) {
	defer v.recoverTo(&err)
	if v.app == nil {
		return Response{}, errors.New("jsrt: no app loaded")
	}
	method, err := normMethod(req.Method)
	if err != nil {
		return Response{}, &ScriptError{Name: "TypeError", Message: err.Error()}
	}
	defer v.begin(ctx)()
	rt := v.rt
	var body goja.Value = goja.Null()
	if len(req.Body) > 0 {
		body = rt.ToValue(rt.NewArrayBuffer(append([]byte(nil), req.Body...)))
	}
	var flat goja.Value
	v.flatRes = req.Header == nil && req.Flat != nil
	if v.flatRes {
		flat = flatPairs(rt, req.Flat)
	} else {
		flat = flatHeaders(rt, req.Header)
	}
	ret, err := v.entFn["fetch"](goja.Undefined(), v.app, rt.ToValue(method), rt.ToValue(req.URL), flat, body)
	if err != nil {
		return Response{}, v.scriptErr(err)
	}
	// An async handler's promise has usually settled already (its jobs ran as the call
	// returned); await runs the loop for one that waits on host calls or timers.
	settled := false
	for range 3 {
		if isPromise(ret) {
			if ret, err = v.await(ctx, ret); err != nil {
				return Response{}, err
			}
			settled = true
		} else {
			v.reportRejections(nil)
		}
		done, err := v.entFn["finish"](goja.Undefined(), ret, rt.ToValue(settled))
		if err != nil {
			return Response{}, v.scriptErr(err)
		}
		if v.resped {
			if v.respErr != nil {
				return Response{}, v.respErr
			}
			return v.resp, nil
		}
		ret = done
	}
	return Response{}, errors.New("jsrt: the prelude did not finish the response")
}

func isPromise(val goja.Value) bool {
	o, ok := val.(*goja.Object)
	return ok && o.ExportType() == promiseType
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// normMethod uppercases the standard methods and refuses non-tokens and CONNECT, TRACE and
// TRACK, as the prelude's Request does for an app's own requests.
func normMethod(s string) (string, error) {
	if s == "" {
		return http.MethodGet, nil
	}
	switch s {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH":
		return s, nil
	}
	return checkMethod(s)
}

// checkMethod is host.method and normMethod's slow path: it uppercases the standard methods
// and refuses non-tokens (the empty string among them) and CONNECT, TRACE and TRACK.
func checkMethod(s string) (string, error) {
	switch u := strings.ToUpper(s); u {
	case "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH":
		return u, nil
	case "CONNECT", "TRACE", "TRACK":
		return "", argError("invalid method " + s)
	}
	if !isToken(s) {
		return "", argError("invalid method " + s)
	}
	return s, nil
}

// Scheduled runs the app's scheduled handler for one cron firing.
func (v *VM) Scheduled(ctx context.Context, ev ScheduledEvent) (err error) {
	defer v.recoverTo(&err)
	if v.app == nil {
		return errors.New("jsrt: no app loaded")
	}
	defer v.begin(ctx)()
	ret, err := v.entFn["scheduled"](goja.Undefined(), v.app, v.rt.ToValue(ev.Cron), v.rt.ToValue(float64(ev.Time.UnixMilli())))
	if err != nil {
		return v.scriptErr(err)
	}
	if _, err := v.await(ctx, ret); err != nil {
		return err
	}
	return v.drain(ctx)
}

// Drain waits, within ctx, for the promises the last request passed to ctx.waitUntil.
func (v *VM) Drain(ctx context.Context) (err error) {
	defer v.recoverTo(&err)
	if !v.active {
		return nil
	}
	end := func() {
		v.waits = false
		v.active = false
		if v.hcancel != nil {
			v.hcancel()
		}
	}
	// Most requests pass nothing to waitUntil: no need to enter the VM for them.
	if !v.waits {
		end()
		return nil
	}
	defer v.watch(ctx)()
	defer end()
	return v.drain(ctx)
}

func (v *VM) drain(ctx context.Context) error {
	ret, err := v.entFn["drain"](goja.Undefined())
	if err != nil {
		return v.scriptErr(err)
	}
	_, err = v.await(ctx, ret)
	return err
}

// await runs the event loop until the promise p settles.
func (v *VM) await(ctx context.Context, pv goja.Value) (goja.Value, error) {
	p, ok := pv.Export().(*goja.Promise)
	if !ok {
		return nil, errors.New("jsrt: prelude did not return a promise")
	}
	for p.State() == goja.PromiseStatePending {
		if v.pending == 0 {
			return nil, ErrStalled
		}
		var wake <-chan time.Time
		var tm *time.Timer
		if i := v.nextTimer(); i >= 0 {
			d := time.Until(v.timers[i].at)
			if d <= 0 {
				t := v.timers[i]
				v.timers = append(v.timers[:i], v.timers[i+1:]...)
				v.pending--
				if err := t.resolve(goja.Undefined()); err != nil {
					return nil, v.scriptErr(err)
				}
				continue
			}
			tm = time.NewTimer(d)
			wake = tm.C
		}
		var j job
		select {
		case j = <-v.jobs:
		case <-wake:
		case <-ctx.Done():
		}
		if tm != nil {
			tm.Stop()
		}
		if ctx.Err() != nil {
			return nil, ErrDeadline
		}
		if j.run == nil || j.gen != v.gen {
			continue // a timer woke us, or a late result of an earlier request
		}
		v.pending--
		if err := j.run(); err != nil {
			return nil, v.scriptErr(err)
		}
	}
	v.reportRejections(p)
	if p.State() == goja.PromiseStateRejected {
		return nil, v.describe(p.Result(), nil)
	}
	return p.Result(), nil
}

// reportRejections logs promises that were rejected and never handled, except the run's
// own result, which the caller reports.
func (v *VM) reportRejections(own *goja.Promise) {
	for _, p := range v.rejected {
		if p == own || p.State() != goja.PromiseStateRejected {
			continue
		}
		se := v.describe(p.Result(), nil)
		v.host.Log(v.hostCtx(), "error", truncate("unhandled promise rejection: "+se.Error(), v.opts.LogLineBytes))
	}
	v.rejected = v.rejected[:0]
}

func (v *VM) nextTimer() int {
	best := -1
	for i, t := range v.timers {
		if best < 0 || t.at.Before(v.timers[best].at) || t.at.Equal(v.timers[best].at) && t.seq < v.timers[best].seq {
			best = i
		}
	}
	return best
}

// respond is host.respond: the prelude's finish hands over the handler's Response as
// (status, statusText, flat header list, body, offset, length), body being null, a string or
// an ArrayBuffer of which [offset, offset+length) is the body.
func (v *VM) respond(c goja.FunctionCall) (goja.Value, error) {
	var r Response
	status, err := argInt(c, 0)
	if err != nil {
		return nil, err
	}
	r.Status = int(status)
	if r.StatusText, err = argStr(c, 1); err != nil {
		return nil, err
	}
	flat, err := argStrings(c, 2)
	if err != nil {
		return nil, err
	}
	if v.flatRes {
		r.Flat = flat
	} else {
		r.Header = make(http.Header, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			r.Header.Add(flat[i], flat[i+1])
		}
	}
	v.resped = true
	switch b := c.Argument(3).(type) {
	case *goja.Object:
		ab, ok := b.Export().(goja.ArrayBuffer)
		if !ok {
			return nil, errors.New("jsrt: malformed response body")
		}
		off, err1 := argInt(c, 4)
		n, err2 := argInt(c, 5)
		all := ab.Bytes()
		if err1 != nil || err2 != nil || off < 0 || n < 0 || off+n > int64(len(all)) {
			return nil, errors.New("jsrt: malformed response body")
		}
		if n > int64(v.opts.MaxBodyBytes) {
			v.respErr = ErrTooLarge
			return nil, nil
		}
		r.Body = append([]byte(nil), all[off:off+n]...)
	default:
		if goja.IsNull(b) || goja.IsUndefined(b) {
			break
		}
		s, err := argStr(c, 3)
		if err != nil {
			return nil, err
		}
		if len(s) > v.opts.MaxBodyBytes {
			v.respErr = ErrTooLarge
			return nil, nil
		}
		r.Body = []byte(s)
	}
	v.resp, v.respErr = r, nil
	return nil, nil
}

// flatPairs passes name, value pairs in their order, names lowercased (no copy when they
// already are, as HTTP/2 and the router send them).
func flatPairs(rt *goja.Runtime, kv []string) goja.Value {
	flat := make([]any, len(kv)/2*2)
	for i := 0; i+1 < len(kv); i += 2 {
		flat[i], flat[i+1] = strings.ToLower(kv[i]), kv[i+1]
	}
	return rt.NewArray(flat...)
}

func flatHeaders(rt *goja.Runtime, h http.Header) goja.Value {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	flat := make([]any, 0, 2*len(h))
	for _, k := range keys {
		for _, val := range h[k] {
			flat = append(flat, strings.ToLower(k), val)
		}
	}
	return rt.NewArray(flat...)
}
