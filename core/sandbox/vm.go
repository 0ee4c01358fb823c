package sandbox

import (
	_ "embed"
	"fmt"
	"reflect"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	"github.com/dop251/goja_nodejs/url"
)

// AppGlobal is the global the bundled program assigns its module namespace to (esbuild's IIFE
// format with this globalName); the default export's fetch and scheduled are the handlers.
const AppGlobal = "__bulwark_app"

//go:embed prelude.js
var preludeSource string

// compiled is the app version's code, compiled once per worker and run in every runtime.
type compiled struct {
	prelude *goja.Program
	app     *goja.Program
}

func compile(spec *Spec) (*compiled, error) {
	pre, err := goja.Compile("prelude.js", preludeSource, true)
	if err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	app, err := goja.Compile(spec.App+".js", spec.Program, false)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", spec.App, err)
	}
	return &compiled{prelude: pre, app: app}, nil
}

// vm is one warm runtime.
type vm struct {
	w      *worker
	rt     *goja.Runtime
	cur    *reqState // the request this runtime serves now; host functions act for it
	uses   int
	broken bool // a host function panicked: do not trust this runtime again

	fetch     goja.Callable // prelude's dispatch(kind, handler-args...) → Response
	dispatch  goja.Callable
	describe  goja.Callable
	mkRequest goja.Callable
	unwrap    goja.Callable
}

var (
	stringType  = reflect.TypeOf("")
	promiseType = reflect.TypeOf((*goja.Promise)(nil))
)

// argString returns a string argument without ever calling script code (no toString or
// valueOf trap of a hostile object runs on the host's behalf): anything else is refused.
func argString(v goja.Value) (string, bool) {
	if v == nil || v.ExportType() != stringType {
		return "", false
	}
	return v.String(), true
}

func newVM(w *worker) (v *vm, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runtime setup panicked: %v", r)
		}
	}()
	rt := goja.New()
	rt.SetMaxCallStackSize(w.lim.StackDepth)
	v = &vm{w: w, rt: rt}
	// URL and URLSearchParams come from goja_nodejs, which loads them through its require
	// registry; the registry reads no files (the loader refuses everything) and the global
	// require it installs is removed before the app runs.
	reg := require.NewRegistry(require.WithLoader(func(string) ([]byte, error) {
		return nil, require.ModuleFileDoesNotExistError
	}))
	reg.Enable(rt)
	url.Enable(rt)
	rt.GlobalObject().Delete("require")

	// Host functions take and return strings only, run inside recover, and act for the
	// request the runtime serves now. They are plain functions: no Go struct or map is ever
	// handed to the runtime, so reflection exposes nothing.
	call := func(c goja.FunctionCall) (ret goja.Value) {
		defer v.guard(&ret)
		op, ok1 := argString(c.Argument(0))
		args, ok2 := argString(c.Argument(1))
		if !ok1 || !ok2 {
			panic(rt.NewTypeError("host call takes strings"))
		}
		st := v.cur
		if st == nil {
			panic(rt.NewTypeError("no request in progress"))
		}
		if op == "fetch" {
			st.subreqs++
			if st.subreqs > w.lim.Subrequests {
				panic(rt.NewTypeError(fmt.Sprintf("fetch denied: subrequest limit of %d reached", w.lim.Subrequests)))
			}
		}
		data, err := w.call(st, op, []byte(args))
		if err != nil {
			panic(rt.NewTypeError(err.Error()))
		}
		return rt.ToValue(string(data))
	}
	logf := func(c goja.FunctionCall) (ret goja.Value) {
		defer v.guard(&ret)
		level, _ := argString(c.Argument(0))
		line, ok := argString(c.Argument(1))
		if ok && v.cur != nil {
			w.log(v.cur, level, line)
		}
		return goja.Undefined()
	}

	if _, err := rt.RunProgram(w.code.prelude); err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	install, ok := goja.AssertFunction(rt.Get("__bulwark_install"))
	if !ok {
		return nil, fmt.Errorf("prelude: no installer")
	}
	envPairs := make([]any, len(w.spec.Env))
	for i, s := range w.spec.Env {
		envPairs[i] = s
	}
	hooks, err := install(goja.Undefined(), rt.ToValue(call), rt.ToValue(logf), rt.NewArray(envPairs...))
	if err != nil {
		return nil, fmt.Errorf("prelude install: %w", err)
	}
	ho := hooks.ToObject(rt)
	for name, dst := range map[string]*goja.Callable{"dispatch": &v.dispatch, "describe": &v.describe,
		"request": &v.mkRequest, "unwrap": &v.unwrap} {
		f, ok := goja.AssertFunction(ho.Get(name))
		if !ok {
			return nil, fmt.Errorf("prelude: no %s hook", name)
		}
		*dst = f
	}
	if _, err := rt.RunProgram(w.code.app); err != nil {
		return nil, fmt.Errorf("app start: %s", v.errorText(err))
	}
	app := rt.Get(AppGlobal)
	if app == nil || goja.IsUndefined(app) {
		return nil, fmt.Errorf("app start: the bundle defines no %s (build it with the appliance's bundler)", AppGlobal)
	}
	def := app.ToObject(rt).Get("default")
	if def == nil || goja.IsUndefined(def) {
		return nil, fmt.Errorf("app start: the entry module has no default export")
	}
	if _, ok := goja.AssertFunction(def.ToObject(rt).Get("fetch")); !ok {
		return nil, fmt.Errorf("app start: the default export has no fetch(request, env, ctx) method")
	}
	rt.Set(AppGlobal, goja.Undefined())
	if _, err := v.dispatch(goja.Undefined(), rt.ToValue("bind"), def); err != nil {
		return nil, fmt.Errorf("app start: %s", v.errorText(err))
	}
	return v, nil
}

// guard turns a Go panic in a host function into a JS TypeError instead of a dead worker;
// JS exceptions raised on purpose (goja panics with *goja.Object values... via rt.NewTypeError)
// pass through.
func (v *vm) guard(ret *goja.Value) {
	r := recover()
	if r == nil {
		return
	}
	if _, ok := r.(*goja.Object); ok {
		panic(r)
	}
	if _, ok := r.(*goja.Exception); ok {
		panic(r)
	}
	if _, ok := r.(*goja.InterruptedError); ok {
		panic(r)
	}
	v.broken = true
	panic(v.rt.NewTypeError("host function failed"))
}

// run serves one request on this runtime.
func (v *vm) run(st *reqState) (resp *Response, rerr *Error) {
	defer func() {
		if r := recover(); r != nil {
			v.broken = true
			resp, rerr = nil, &Error{Outcome: Exception, Msg: fmt.Sprintf("runtime failure: %v", r)}
		}
		v.cur = nil
	}()
	v.cur = st
	rt := v.rt
	req := st.req
	kind := "fetch"
	if req.Cron != "" {
		kind = "scheduled"
	}
	hdr := make([]any, len(req.Header))
	for i, s := range req.Header {
		hdr[i] = s
	}
	jreq, err := v.mkRequest(goja.Undefined(), rt.ToValue(kind), rt.ToValue(req.Method), rt.ToValue(req.URL),
		rt.NewArray(hdr...), rt.ToValue(string(req.Body)), rt.ToValue(req.Cron))
	if err != nil {
		return nil, v.classify(err)
	}
	res, err := v.dispatch(goja.Undefined(), rt.ToValue(kind), jreq)
	if err != nil {
		return nil, v.classify(err)
	}
	// The handler's promise: host calls are synchronous, so when the call returns every
	// microtask has run and a promise still pending can never settle.
	if obj, ok := res.(*goja.Object); ok && obj.ExportType() == promiseType {
		if p, ok := obj.Export().(*goja.Promise); ok {
			switch p.State() {
			case goja.PromiseStatePending:
				return nil, &Error{Outcome: Exception, Msg: "the handler's promise never settled"}
			case goja.PromiseStateRejected:
				return nil, &Error{Outcome: Exception, Msg: "uncaught (in promise) " + v.describeValue(p.Result())}
			default:
				res = p.Result()
			}
		}
	}
	if kind == "scheduled" {
		return &Response{Status: 204}, nil
	}
	out, err := v.unwrap(goja.Undefined(), res)
	if err != nil {
		return nil, v.classify(err)
	}
	arr := out.ToObject(rt)
	resp = &Response{Status: int(arr.Get("0").ToInteger())}
	hv := arr.Get("1").ToObject(rt)
	n := int(hv.Get("length").ToInteger())
	for i := 0; i < n; i++ {
		resp.Header = append(resp.Header, hv.Get(fmt.Sprint(i)).String())
	}
	body := arr.Get("2")
	if b, ok := body.Export().([]byte); ok {
		resp.Body = b
	} else {
		resp.Body = []byte(body.String())
	}
	return resp, nil
}

func (v *vm) classify(err error) *Error {
	switch e := err.(type) {
	case *goja.InterruptedError:
		if h, ok := e.Value().(*limitHit); ok {
			return &Error{Outcome: h.o, Msg: "interrupted"}
		}
		return &Error{Outcome: CPULimit, Msg: "interrupted"}
	case *goja.StackOverflowError:
		return &Error{Outcome: StackLimit, Figure: fmt.Sprintf("call depth above %d", v.w.lim.StackDepth)}
	}
	return &Error{Outcome: Exception, Msg: v.errorText(err)}
}

func (v *vm) errorText(err error) string {
	if e, ok := err.(*goja.Exception); ok {
		return "uncaught " + v.describeValue(e.Value())
	}
	if _, ok := err.(*goja.InterruptedError); ok {
		return "interrupted"
	}
	if _, ok := err.(*goja.StackOverflowError); ok {
		return "call stack too deep"
	}
	if e, ok := err.(*goja.CompilerSyntaxError); ok {
		return "syntax error: " + e.Error()
	}
	return err.Error()
}

// describeValue formats a thrown value. Primitives are formatted on the host; objects only
// through the prelude's describe, which runs as script under the request's CPU watchdog and
// whose result is taken only if it is a string (a trap that throws or loops leaves the class
// name).
func (v *vm) describeValue(val goja.Value) (s string) {
	if val == nil {
		return "undefined"
	}
	obj, ok := val.(*goja.Object)
	if !ok {
		return truncate(val.String(), 1024)
	}
	s = "exception of class " + obj.ClassName()
	defer func() { recover() }()
	if d, err := v.describe(goja.Undefined(), val); err == nil {
		if str, ok := argString(d); ok {
			s = truncate(str, 1024)
		}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
