package sandbox

import (
	"fmt"
	"time"
)

// Limits bound one app version's workers. Zero fields take DefaultLimits' value.
type Limits struct {
	MemoryMB          int           // address-space wall per worker, above the runtime's own baseline
	CPU               time.Duration // CPU time per request, measured on the VM's thread
	Wall              time.Duration // wall time per request, awaits included
	Workers           int           // worker processes
	Concurrency       int           // in-flight requests (and warm runtimes) per worker
	RequestBodyBytes  int           // larger request bodies are refused before the worker
	ResponseBodyBytes int           // larger responses become an error
	Subrequests       int           // capability calls of kind "fetch" per request
	LogLinesPerMinute int           // console lines kept per minute per worker
	LogLineBytes      int           // longer console lines are truncated
	StackDepth        int           // JS call-stack cap
	RecycleAfter      int           // requests a runtime serves before it is replaced
}

// DefaultLimits are used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MemoryMB: 128, CPU: 50 * time.Millisecond, Wall: 10 * time.Second, Workers: 1,
		Concurrency: 16, RequestBodyBytes: 1 << 20, ResponseBodyBytes: 8 << 20, Subrequests: 16,
		LogLinesPerMinute: 600, LogLineBytes: 2048, StackDepth: 1000, RecycleAfter: 1000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&l.MemoryMB, d.MemoryMB)
	set(&l.Workers, d.Workers)
	set(&l.Concurrency, d.Concurrency)
	set(&l.RequestBodyBytes, d.RequestBodyBytes)
	set(&l.ResponseBodyBytes, d.ResponseBodyBytes)
	set(&l.Subrequests, d.Subrequests)
	set(&l.LogLinesPerMinute, d.LogLinesPerMinute)
	set(&l.LogLineBytes, d.LogLineBytes)
	set(&l.StackDepth, d.StackDepth)
	set(&l.RecycleAfter, d.RecycleAfter)
	if l.CPU <= 0 {
		l.CPU = d.CPU
	}
	if l.Wall <= 0 {
		l.Wall = d.Wall
	}
	return l
}

// Spec is one app version as the sandbox runs it.
type Spec struct {
	App     string
	Version int64
	Program string   // the bundled script; defines what the API's Entry finds
	Env     []string // name, value pairs of plain env values
	Secrets []string // env names whose values the app reads through the "secret" capability
	KV      bool     // expose env.KV (the manifest grants it)
	Limits  Limits
}

// Request is what the router hands to an app. IP, Host and Path are for events only.
type Request struct {
	ID     string // request id (X-Request-Id)
	Method string
	URL    string // absolute URL as the app sees it
	Header []string
	Body   []byte
	IP     string
	Host   string
	Path   string
	Cron   string // set for a scheduled run instead of an HTTP request
}

// Response is what the app returned.
type Response struct {
	Status int
	Header []string // name, value pairs in order
	Body   []byte
	CPU    time.Duration // CPU the VM used for it
}

// Outcome classifies how a request ended when it did not produce a response.
type Outcome uint8

const (
	OK          Outcome = iota
	Exception           // the handler threw or returned something that is not a Response
	CPULimit            // CPU budget spent (sandbox_cpu)
	WallLimit           // wall deadline passed (sandbox_cpu)
	StackLimit          // call-stack cap hit
	MemoryLimit         // the worker hit its memory wall and died (sandbox_memory)
	Crash               // the worker died for another reason (sandbox_crash)
	Overloaded          // every worker busy or none running
	TooLarge            // request or response body above its cap
	Unavailable         // the supervisor is stopped
)

var outcomeNames = [...]string{"ok", "exception", "cpu", "wall", "stack", "memory", "crash", "overloaded", "too_large", "unavailable"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Error is a request that ended without a response.
type Error struct {
	Outcome Outcome
	Figure  string // the measured figure: "cpu 51ms of 50ms", "memory 64MB"
	Msg     string
}

func (e *Error) Error() string {
	s := e.Outcome.String()
	if e.Figure != "" {
		s += " (" + e.Figure + ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Call is one capability request from an app.
type Call struct {
	App       string
	Version   int64
	RequestID string
	Op        string // "fetch", "kv.get", "kv.put", "kv.delete", "kv.list", "sanitize", "security.loginFailed", ...
	Args      []byte // JSON, as the in-VM API encoded it
}

// Host serves capability calls in the supervisor. Errors reach the app as exceptions with the
// error's text, so they must not carry secrets.
type Host interface {
	Call(c Call) ([]byte, error)
}

// LogSink receives an app's console lines (already truncated and rate-limited).
type LogSink interface {
	Log(app, requestID, level, line string)
}

func encodeRequest(r *Request) []byte {
	var e enc
	e.str(r.ID)
	e.str(r.Method)
	e.str(r.URL)
	e.str(r.IP)
	e.str(r.Cron)
	e.pairs(r.Header)
	e.bytes(r.Body)
	return e.b
}

func decodeRequest(b []byte) (*Request, error) {
	d := dec{b: b}
	r := &Request{ID: d.str(), Method: d.str(), URL: d.str(), IP: d.str(), Cron: d.str(), Header: d.pairs(), Body: d.bytes()}
	return r, d.err
}

func encodeResponse(r *Response, e2 *Error) []byte {
	var e enc
	if e2 != nil {
		e.uint(uint64(e2.Outcome))
		e.str(e2.Figure)
		e.str(e2.Msg)
	} else {
		e.uint(0)
		e.str("")
		e.str("")
	}
	if r == nil {
		r = &Response{}
	}
	e.uint(uint64(r.Status))
	e.int(int64(r.CPU))
	e.pairs(r.Header)
	e.bytes(r.Body)
	return e.b
}

func decodeResponse(b []byte) (*Response, *Error, error) {
	d := dec{b: b}
	o := Outcome(d.uint())
	fig, msg := d.str(), d.str()
	r := &Response{Status: int(d.uint()), CPU: time.Duration(d.int()), Header: d.pairs(), Body: d.bytes()}
	if d.err != nil {
		return nil, nil, d.err
	}
	if o != OK {
		return r, &Error{Outcome: o, Figure: fig, Msg: msg}, nil
	}
	return r, nil, nil
}

func encodeInit(s *Spec) []byte {
	var e enc
	e.str(s.App)
	e.int(s.Version)
	e.str(s.Program)
	e.pairs(s.Env)
	e.uint(uint64(len(s.Secrets)))
	for _, n := range s.Secrets {
		e.str(n)
	}
	if s.KV {
		e.uint(1)
	} else {
		e.uint(0)
	}
	l := s.Limits
	for _, v := range []int64{int64(l.MemoryMB), int64(l.CPU), int64(l.Wall), int64(l.Workers), int64(l.Concurrency),
		int64(l.RequestBodyBytes), int64(l.ResponseBodyBytes), int64(l.Subrequests), int64(l.LogLinesPerMinute),
		int64(l.LogLineBytes), int64(l.StackDepth), int64(l.RecycleAfter)} {
		e.int(v)
	}
	return e.b
}

func decodeInit(b []byte) (*Spec, error) {
	d := dec{b: b}
	s := &Spec{App: d.str(), Version: d.int(), Program: d.str(), Env: d.pairs()}
	n := d.uint()
	for i := uint64(0); i < n && d.err == nil && i < 1024; i++ {
		s.Secrets = append(s.Secrets, d.str())
	}
	s.KV = d.uint() == 1
	l := &s.Limits
	l.MemoryMB = int(d.int())
	l.CPU = time.Duration(d.int())
	l.Wall = time.Duration(d.int())
	l.Workers = int(d.int())
	l.Concurrency = int(d.int())
	l.RequestBodyBytes = int(d.int())
	l.ResponseBodyBytes = int(d.int())
	l.Subrequests = int(d.int())
	l.LogLinesPerMinute = int(d.int())
	l.LogLineBytes = int(d.int())
	l.StackDepth = int(d.int())
	l.RecycleAfter = int(d.int())
	return s, d.err
}
