package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"bulwark/core/sandbox"
)

// TestRecycleAndScheduled: a runtime is replaced after RecycleAfter requests (its globals
// start over), and a scheduled run reaches the app's scheduled handler under the same limits.
func TestRecycleAndScheduled(t *testing.T) {
	logs := &logRecorder{}
	src := program(`{
		async fetch(request) { globalThis.n = (globalThis.n || 0) + 1; return new Response(String(globalThis.n)) },
		async scheduled(event, env, ctx) { console.log('cron ' + event.cron); if (event.cron === 'loop') for(;;){} },
	}`)
	s := start(t, src, sandbox.Limits{MemoryMB: 64, Concurrency: 1, RecycleAfter: 3, CPU: 50 * time.Millisecond}, sandbox.Options{Logs: logs})
	var got []string
	for i := 0; i < 7; i++ {
		r, err := get(s, "/")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(r.Body))
	}
	// No runtime serves more than 3 requests; a fresh one starts its globals over. (Which
	// fresh runtime serves next depends on whether the background replacement is ready.)
	resets := 0
	for _, c := range got {
		if c > "3" {
			t.Fatalf("counts %v: a runtime served more than 3 requests", got)
		}
		if c == "1" {
			resets++
		}
	}
	if resets < 3 {
		t.Fatalf("counts %v: runtime not recycled after 3 requests", got)
	}
	r, err := s.Do(context.Background(), &sandbox.Request{ID: "cron-1", Cron: "*/5 * * * *", Method: "SCHEDULED", URL: "https://a/"})
	if err != nil || r.Status != 204 {
		t.Fatalf("scheduled: %v", err)
	}
	if logs.count() != 1 || !strings.Contains(logs.lines[0], "cron */5 * * * *") {
		t.Fatalf("scheduled log lines %v", logs.lines)
	}
	_, err = s.Do(context.Background(), &sandbox.Request{ID: "cron-2", Cron: "loop", Method: "SCHEDULED", URL: "https://a/"})
	if se, ok := err.(*sandbox.Error); !ok || se.Outcome != sandbox.CPULimit {
		t.Fatalf("looping scheduled run: %v, want cpu limit", err)
	}
}
