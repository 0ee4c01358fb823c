package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminclient"
	"bulwark/ui/source"
)

// Against a real appliance with its demo app: the console's apps table gets the appliance's
// own last-hour counters (requests, errors, blocked), and switching the app off and on
// through the console's adapter takes it off the air (503) and back.
func TestAppCountersAndSwitchAgainstRealAppliance(t *testing.T) {
	bulwark, _ := build(t)
	// Workers run as nobody when tests run as root: they must reach the binary.
	if err := os.Chmod(filepath.Dir(bulwark), 0o755); err != nil {
		t.Fatal(err)
	}
	data, public := serve(t, bulwark)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := adminclient.Open(filepath.Join(data, "admin.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := newRemote(c)

	hc := publicClient(t, data)
	defer hc.CloseIdleConnections()
	send := func(method, path string, crossSite bool) int {
		var body io.Reader
		if method == http.MethodPost { // a GET with a body is itself an attack to CRS (920170)
			body = strings.NewReader("a=1")
		}
		req, _ := http.NewRequest(method, "https://"+public+path, body)
		if crossSite {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("Origin", "https://evil.example")
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := 0; i < 3; i++ {
		if code := send("GET", "/", false); code != 200 {
			t.Fatalf("demo app: %d", code)
		}
	}
	if code := send("POST", "/", true); code != 403 {
		t.Fatalf("cross-site POST: %d, want 403", code)
	}

	demo := func() source.App {
		as, err := r.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Name == "demo" {
				return a
			}
		}
		t.Fatalf("no demo app in %+v", as)
		return source.App{}
	}
	deadline := time.Now().Add(10 * time.Second)
	a := demo()
	for a.Requests < 3 || a.Blocked < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("demo counters %+v", a)
		}
		time.Sleep(100 * time.Millisecond)
		a = demo()
	}
	if a.Errors != 0 || !a.Enabled {
		t.Fatalf("demo %+v", a)
	}

	if err := r.SetEnabled(ctx, "demo", false); err != nil {
		t.Fatal(err)
	}
	if code := send("GET", "/", false); code != 503 {
		t.Fatalf("disabled demo: %d, want 503", code)
	}
	if a := demo(); a.Enabled || a.Status != "disabled" || a.Errors < 1 {
		t.Fatalf("disabled demo in the table: %+v", a)
	}
	if err := r.SetEnabled(ctx, "demo", true); err != nil {
		t.Fatal(err)
	}
	if code := send("GET", "/", false); code != 200 {
		t.Fatalf("enabled demo: %d", code)
	}
}
