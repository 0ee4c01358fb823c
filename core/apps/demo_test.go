package apps_test

import (
	"context"
	"strings"
	"testing"

	"bulwark/core/apps"
)

// TestDemoApp deploys the demo app the appliance ships (assets/demo/app) and uses its form.
func TestDemoApp(t *testing.T) {
	e := newEnv(t, apps.Capabilities{})
	if _, err := e.m.Deploy(context.Background(), "../../assets/demo/app"); err != nil {
		t.Fatal(err)
	}
	code, body := e.get("anything.test", "/")
	if code != 200 || !strings.Contains(body, `<form method="post" action="/notes">`) || !strings.Contains(body, "Bulwark is running") {
		t.Fatalf("demo page: %d %q", code, body)
	}
	if code, body := e.get("anything.test", "/demo.css"); code != 200 || !strings.Contains(body, "font:") {
		t.Fatalf("css: %d", code)
	}
	code, body = e.do("POST", "anything.test", "/notes", "name=Ann&message=%3Cb%3Ehi%3C%2Fb%3E%3Cscript%3Ex%3C%2Fscript%3E")
	if code != 200 || !strings.Contains(body, "Thanks, Ann") {
		t.Fatalf("post: %d %q", code, body)
	}
	if code, _ := e.do("POST", "anything.test", "/notes", "name=&message="); code != 400 {
		t.Fatalf("empty form: %d, want 400", code)
	}
}
