package sandbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/sandbox"
	"bulwark/core/sandbox/sandboxtest"
)

// program wraps a default export's source the way the bundler's IIFE does.
func program(defaultExport string) string {
	return "var " + sandbox.AppGlobal + " = (function(){ 'use strict';\nconst def = " + defaultExport + ";\nreturn { default: def };\n})();"
}

// handler builds an app whose fetch runs body (an async function body with request, env, ctx).
func handler(body string) string {
	return program("{ async fetch(request, env, ctx) {\n" + body + "\n} }")
}

type recorder struct {
	mu  sync.Mutex
	evs []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() map[event.Kind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[event.Kind]int{}
	for _, e := range r.evs {
		m[e.Kind]++
	}
	return m
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs...)
}

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Log(app, reqID, level, line string) {
	l.mu.Lock()
	l.lines = append(l.lines, level+" "+line)
	l.mu.Unlock()
}

func (l *logRecorder) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func start(t testing.TB, src string, lim sandbox.Limits, opts sandbox.Options) *sandbox.Supervisor {
	t.Helper()
	opts.Exe, opts.Args = sandboxtest.Worker(t)
	s, err := sandbox.Start(opts, sandbox.Spec{App: "test", Version: 1, Program: src, Limits: lim})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func get(s *sandbox.Supervisor, path string) (*sandbox.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return s.Do(ctx, &sandbox.Request{ID: "r-" + path, Method: "GET", URL: "https://app.test" + path,
		Header: []string{"accept", "*/*"}, IP: "127.0.0.1", Host: "app.test", Path: path})
}
