package sandbox_test

import (
	"errors"
	"testing"
	"time"

	"bulwark/core/sandbox"
)

func TestHelloAndLimits(t *testing.T) {
	s := start(t, handler(`
		const u = new URL(request.url);
		if (u.pathname === '/loop') { for(;;){} }
		return new Response('hello ' + u.pathname, {status: 200, headers: {'x-app': 'yes'}});`),
		sandbox.Limits{MemoryMB: 64, CPU: 50 * time.Millisecond, Concurrency: 2}, sandbox.Options{})
	r, err := get(s, "/a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || string(r.Body) != "hello /a" {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	t.Logf("stats %+v", s.Stats())
	_, err = get(s, "/loop")
	var se *sandbox.Error
	if !errors.As(err, &se) || se.Outcome != sandbox.CPULimit {
		t.Fatalf("loop: %v", err)
	}
	r, err = get(s, "/b")
	if err != nil || string(r.Body) != "hello /b" {
		t.Fatalf("after loop: %v", err)
	}
}
