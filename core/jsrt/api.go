package jsrt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Host serves an app's capability calls. Implementations must be safe for concurrent use:
// async calls (Fetch, KV*) run on their own goroutines so one handler can await several.
// An error reaches the app as a rejected promise or exception carrying the error's text, so
// it must not contain secrets.
type Host interface {
	Fetch(ctx context.Context, req FetchRequest) (FetchResponse, error)
	KVGet(ctx context.Context, key string) (value []byte, found bool, err error)
	KVPut(ctx context.Context, key string, value []byte) error
	KVDelete(ctx context.Context, key string) error
	KVList(ctx context.Context, prefix, cursor string, limit int) (KVPage, error)
	// Secret returns the value of a secret the manifest references; called synchronously when
	// the app reads env.NAME.
	Secret(ctx context.Context, name string) (string, error)
	// Sanitize cleans HTML with the named policy ("" = the app's default).
	Sanitize(ctx context.Context, html, policy string) (string, error)
	// Security reports a login or account signal from ctx.security.
	Security(ctx context.Context, sig SecuritySignal) error
	// Log receives one console line (level: log, info, warn, error, debug), already
	// truncated to Options.LogLineBytes; rate limiting is the host's job.
	Log(ctx context.Context, level, line string)
}

// FetchRequest is an app's outgoing fetch, already validated as a Request in the VM.
type FetchRequest struct {
	Method   string
	URL      string
	Header   http.Header
	Body     []byte
	Redirect string // "follow", "manual" or "error"
}

// FetchResponse is what the host got back.
type FetchResponse struct {
	Status     int
	StatusText string
	Header     http.Header
	Body       []byte
	URL        string // final URL after redirects
	Redirected bool
}

// KVPage is one page of KVList.
type KVPage struct {
	Keys     []string
	Cursor   string // pass back to continue; "" when Complete
	Complete bool
}

// SecuritySignal kinds.
const (
	SignalLoginFailed    = "login_failed"
	SignalLoginSucceeded = "login_succeeded"
	SignalAccountChanged = "account_changed"
)

// SecuritySignal is one call of ctx.security.*.
type SecuritySignal struct {
	Kind  string // one of the Signal* constants
	User  string
	Field string // for account_changed
}

// Request is an incoming request handed to the app's fetch handler.
type Request struct {
	ID     string // request id, for the host's logs and events
	Method string
	URL    string // absolute
	Header http.Header
	Flat   []string // name, value pairs in wire order; used instead of Header when Header is nil
	Body   []byte
}

// Response is the app's answer: its headers in Header when the request came with Header, as
// name, value pairs (lowercase names, in the app's order) in Flat when it came with Flat.
type Response struct {
	Status     int
	StatusText string
	Header     http.Header
	Flat       []string
	Body       []byte
}

// ScheduledEvent is one cron firing handed to the app's scheduled handler.
type ScheduledEvent struct {
	ID   string // run id, like a request id
	Cron string
	Time time.Time
}

// Options configure a runtime. Zero values take sane defaults.
type Options struct {
	Env          map[string]string // plain env values
	Secrets      []string          // env names whose values come from Host.Secret on read
	KV           bool              // expose env.KV
	StackDepth   int               // JS call-stack cap (default 1000)
	LogLineBytes int               // console lines are cut to this (default 2048)
	MaxPending   int               // host calls and timers in flight per request (default 64)
	MaxBodyBytes int               // largest response body the app may return (default 8 MiB)
}

func (o Options) withDefaults() Options {
	if o.StackDepth <= 0 {
		o.StackDepth = 1000
	}
	if o.LogLineBytes <= 0 {
		o.LogLineBytes = 2048
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 64
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 8 << 20
	}
	return o
}

// Errors a handler run can end with, besides *ScriptError and *InterruptedError.
var (
	ErrDeadline      = errors.New("jsrt: the request's deadline passed")
	ErrStackOverflow = errors.New("jsrt: the call stack limit was exceeded")
	ErrStalled       = errors.New("jsrt: the handler's promise can never settle (nothing is pending)")
	ErrBroken        = errors.New("jsrt: a host function failed unexpectedly; discard this runtime")
	ErrTooLarge      = errors.New("jsrt: the response body is larger than allowed")
)

// ScriptError is a value the app threw or rejected with, described without running any of
// its code.
type ScriptError struct {
	Name    string // "TypeError", "Error", "string", "object", ...
	Message string
	Stack   string // "at fn (app.js:12:5)" lines from the engine, when known
}

func (e *ScriptError) Error() string {
	if e.Message == "" {
		return "app threw " + e.Name
	}
	return e.Name + ": " + e.Message
}

// InterruptedError is returned when Interrupt stopped the runtime; Reason is what was passed.
type InterruptedError struct {
	Reason any
}

func (e *InterruptedError) Error() string {
	if err, ok := e.Reason.(error); ok {
		return "jsrt: interrupted: " + err.Error()
	}
	if s, ok := e.Reason.(string); ok {
		return "jsrt: interrupted: " + s
	}
	return fmt.Sprintf("jsrt: interrupted (%T)", e.Reason)
}

func (e *InterruptedError) Unwrap() error {
	err, _ := e.Reason.(error)
	return err
}
