package apps

import (
	"encoding/json"
	"testing"

	"bulwark/core/event"
	"bulwark/core/manifest"
	"bulwark/core/sandbox"
)

// A worker can only trigger the login hook, or attribute events, for requests its own app
// is answering: a request id of another app (or none in flight) rotates nothing.
func TestLoginHookOnlyForTheAppsOwnRequest(t *testing.T) {
	var rotated []string
	m := &Manager{cfg: Config{Caps: Capabilities{OnLogin: func(id string) { rotated = append(rotated, id) }}}, events: event.Discard}
	m.inflight.Store("req-b", &inflight{app: "b", req: &sandbox.Request{ID: "req-b", IP: "192.0.2.7"}})
	args, _ := json.Marshal(sandbox.TextArgs{Kind: "login_succeeded", User: "alice"})
	hostOf := func(app string) *appHost {
		return &appHost{m: m, dep: &deployment{v: &Version{App: app}, limits: manifest.Limits{WallMs: 1000}}}
	}
	for _, c := range []struct{ app, id string }{{"a", "req-b"}, {"a", "nosuch"}, {"b", "nosuch"}} {
		if _, err := hostOf(c.app).Call(sandbox.Call{App: c.app, RequestID: c.id, Op: "security", Args: args}); err != nil {
			t.Fatal(err)
		}
	}
	if len(rotated) != 0 {
		t.Fatalf("rotated %v for requests not the caller's", rotated)
	}
	if _, err := hostOf("b").Call(sandbox.Call{App: "b", RequestID: "req-b", Op: "security", Args: args}); err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 1 || rotated[0] != "req-b" {
		t.Fatalf("own request: rotated %v", rotated)
	}
	if e := hostOf("a").event(sandbox.Call{App: "a", RequestID: "req-b"}, event.LoginFailed, event.Low, "x", nil); e.IP != "" {
		t.Fatalf("event of app a took app b's request fields: %+v", e)
	}
}
