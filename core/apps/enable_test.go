package apps_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"bulwark/core/apps"
	"bulwark/core/event"
)

// A disabled app answers 503 with the error page, keeps its versions, stays disabled across
// a restart and through a deploy, and serves again when enabled; counters follow.
func TestSetEnabledPersistsAndCounts(t *testing.T) {
	e := newEnv(t, apps.Capabilities{})
	ctx := context.Background()
	if _, err := e.m.Deploy(ctx, "testdata/hello"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SetEnabled(ctx, "nosuch", false); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("disable an unknown app: %v, want ErrNotFound", err)
	}
	req, _ := http.NewRequest("GET", "https://hello.test/a", nil)
	if got := e.m.AppOf(req); got != "hello" {
		t.Fatalf("AppOf = %q, want hello", got)
	}
	req.Host = "other.test"
	if got := e.m.AppOf(req); got != "" {
		t.Fatalf("AppOf other host = %q, want none", got)
	}
	if code, body := e.get("hello.test", "/a"); code != 200 || body != "v1 /a" {
		t.Fatalf("enabled: %d %q", code, body)
	}
	if err := e.m.SetEnabled(ctx, "hello", false); err != nil {
		t.Fatal(err)
	}
	code, body := e.get("hello.test", "/a")
	if code != 503 || !strings.Contains(body, "503") {
		t.Fatalf("disabled: %d %q, want the 503 page", code, body)
	}
	if l := e.m.List(); len(l) != 1 || l[0].Enabled || l[0].Version != 1 {
		t.Fatalf("list while disabled: %+v", l)
	} else if age := time.Since(l[0].Created); age < 0 || age > time.Hour {
		t.Fatalf("list: running version created %v ago, want its deploy time", age)
	}
	// A deploy to a disabled app is stored and becomes the active version, but stays off.
	if _, err := e.m.Deploy(ctx, appCopy(t, "hello", `"v1"`, `"v2"`)); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.get("hello.test", "/a"); code != 503 {
		t.Fatalf("deploy re-enabled a disabled app: %d", code)
	}
	vs, err := e.m.Versions(ctx, "hello")
	if err != nil || len(vs) != 2 || !vs[1].Active {
		t.Fatalf("versions while disabled: %+v %v", vs, err)
	}

	// A restart (a new manager on the same database) keeps it off.
	e.m.Close()
	m2, err := apps.New(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	if l := m2.List(); len(l) != 1 || l[0].Enabled {
		t.Fatalf("after restart: %+v", l)
	}
	rec := httptestDo(m2, "hello.test", "/a")
	if rec != 503 {
		t.Fatalf("after restart: %d, want 503", rec)
	}
	if err := m2.SetEnabled(ctx, "hello", true); err != nil {
		t.Fatal(err)
	}
	if code := httptestDo(m2, "hello.test", "/a"); code != 200 {
		t.Fatalf("enabled again: %d", code)
	}
	l := m2.List()
	if len(l) != 1 || !l[0].Enabled || l[0].Version != 2 || l[0].Stats.Workers == 0 {
		t.Fatalf("list after enable: %+v", l)
	}
	// Counters: 2 requests here (one 503), events counted by app.
	now := time.Now()
	m2.Observe(event.Event{TS: now, App: "hello", Kind: event.WAF, Action: event.Blocked})
	m2.Observe(event.Event{TS: now, App: "hello", Kind: event.RateLimit, Action: event.Throttled})
	m2.Observe(event.Event{TS: now.Add(-2 * time.Hour), App: "hello", Kind: event.CSRF, Action: event.Blocked})
	m2.Observe(event.Event{TS: now, App: "other", Kind: event.WAF, Action: event.Blocked})
	c := m2.List()[0].Counts
	if c != (apps.Counts{Requests: 2, Errors: 1, Blocked: 1, LimitHits: 1}) {
		t.Fatalf("counts %+v", c)
	}
}

func httptestDo(h http.Handler, host, path string) int {
	rec := &statusRecorder{h: http.Header{}}
	req, _ := http.NewRequest("GET", "https://"+host+path, nil)
	h.ServeHTTP(rec, req)
	return rec.code
}

type statusRecorder struct {
	h    http.Header
	code int
}

func (s *statusRecorder) Header() http.Header { return s.h }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(c int) {
	if s.code == 0 {
		s.code = c
	}
}
