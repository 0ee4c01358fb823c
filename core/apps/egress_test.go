package apps_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"bulwark/core/apps"
	"bulwark/core/event"
)

// TestEgressAllowlistConfusion runs an app that tries metadata and private addresses, IP
// literals in every spelling, userinfo, other ports, a trailing dot, look-alike and IDN hosts
// and other schemes: only exact allowed hosts reach the egress function, each refusal is an
// egress_denied event, and the app only sees an exception.
func TestEgressAllowlistConfusion(t *testing.T) {
	var mu sync.Mutex
	var reached []string
	caps := apps.Capabilities{Fetch: func(ctx context.Context, app string, allow []string, r apps.FetchRequest) (*apps.FetchResponse, error) {
		mu.Lock()
		reached = append(reached, r.URL)
		mu.Unlock()
		return &apps.FetchResponse{Status: 200, Body: []byte("ok")}, nil
	}}
	e := newEnv(t, caps)
	if _, err := e.m.Deploy(context.Background(), "testdata/egress"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	reached = nil // the health check ran the app once already
	mu.Unlock()
	code, body := e.get("egress.test", "/")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var res map[string]string
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	denied := 0
	for u, v := range res {
		allowed := strings.Contains(u, "/ok")
		if allowed && v != "allowed 200" {
			t.Errorf("%s: %s, want allowed", u, v)
		}
		if !allowed {
			if v != "denied" {
				t.Errorf("%s: %s, want denied", u, v)
			}
			denied++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, u := range reached {
		if !strings.Contains(u, "/ok") {
			t.Errorf("egress was asked for %s", u)
		}
	}
	if len(reached) != 3 {
		t.Errorf("egress reached %d times, want 3: %v", len(reached), reached)
	}
	if n := e.ev.count(event.EgressDenied); n < denied {
		t.Errorf("%d egress_denied events for %d refusals", n, denied)
	}
	t.Logf("%d refused, %d allowed", denied, len(reached))
}
