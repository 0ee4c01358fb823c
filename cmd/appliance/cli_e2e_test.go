package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
)

// adminUp starts `bulwark serve` with the admin API on a port of the kernel's choice and
// waits until the first admin bundle reaches it.
func adminUp(t *testing.T) (data string, p *serveProc, endpoint string) {
	t.Helper()
	// Sandbox workers re-execute the binary under their own identity: its folder must be
	// enterable by them (MkdirTemp makes it 0700).
	os.Chmod(filepath.Dir(bin), 0o755)
	data = filepath.Join(t.TempDir(), "data")
	cfg := loopbackConfig(t, "[admin]\nlisten = \"127.0.0.1:0\"\n")
	p = startServe(t, data, cfg)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := runBin(t, "status", "--data", data, "--output", "json")
		if r.code == 0 {
			var st adminapi.Status
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
				t.Fatalf("status json: %v\n%s", err, r.stdout)
			}
			if st.Client.Role != "admin" {
				t.Fatalf("first bundle is not admin: %+v", st.Client)
			}
			b, err := adminbundle.Load(filepath.Join(data, "admin.bundle"))
			if err != nil {
				t.Fatal(err)
			}
			return data, p, b.Endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin API not reachable with the first bundle within 60s: %s", r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// knock makes a certificate-less TLS connection to the admin listener (an attack on it).
func knock(endpoint string) {
	c, err := tls.Dial("tcp", endpoint, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err == nil {
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		io.ReadAll(c)
		c.Close()
	}
}

func TestCLIEndToEnd(t *testing.T) {
	data, p, endpoint := adminUp(t)
	ok := func(args ...string) result {
		t.Helper()
		r := runBin(t, append(args, "--data", data)...)
		if r.code != 0 {
			t.Fatalf("bulwark %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r
	}
	fails := func(want string, args ...string) result {
		t.Helper()
		r := runBin(t, append(args, "--data", data)...)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("bulwark %s: want a non-zero exit saying %q, got %d: %s", strings.Join(args, " "), want, r.code, r.stderr)
		}
		return r
	}
	dir := t.TempDir()

	// Bundles: issue, list, use, revoke.
	opsFile := filepath.Join(dir, "ops.bundle")
	ok("admin", "issue", "ops", "--role", "admin", "--out", opsFile)
	if st, _ := os.Stat(opsFile); st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v", st.Mode())
	}
	viewerFile := filepath.Join(dir, "viewer.bundle")
	ok("admin", "issue", "watcher", "--out", viewerFile)
	var list []adminapi.Client
	json.Unmarshal([]byte(ok("admin", "list", "--output", "json").stdout), &list)
	if len(list) != 3 {
		t.Fatalf("admin list: %+v", list)
	}
	if r := ok("status", "--bundle", opsFile); !strings.Contains(r.stdout, "ops (admin)") {
		t.Fatalf("status as ops: %s", r.stdout)
	}

	// Tail events live while the admin listener is attacked.
	tail := exec.Command(bin, "events", "tail", "--kind", "admin_auth", "--count", "2", "--for", "30s", "--data", data)
	var tailOut strings.Builder
	tail.Stdout = &tailOut
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tail.Wait() }()
	time.Sleep(time.Second) // the tail connects and reaches "now"
	var tailErr error
	for waiting := true; waiting; {
		knock(endpoint)
		select {
		case tailErr = <-done:
			waiting = false
		case <-time.After(300 * time.Millisecond):
		}
	}
	if tailErr != nil || strings.Count(tailOut.String(), "admin_auth") != 2 {
		t.Fatalf("events tail: %v\n%s", tailErr, tailOut.String())
	}
	// ... and find them in the store.
	var page adminapi.EventPage
	for i := 0; i < 50 && len(page.Events) == 0; i++ {
		json.Unmarshal([]byte(ok("events", "query", "--kind", "admin_auth", "--since", "10m", "--output", "json").stdout), &page)
		time.Sleep(100 * time.Millisecond)
	}
	if len(page.Events) == 0 || page.Events[0].IP != "127.0.0.1" {
		t.Fatalf("events query: %+v", page)
	}
	ok("events", "top", "--by", "ip", "--since", "1h")

	// Alerts through the CLI: a rule on admin_auth to a webhook fires within 5 s.
	got := make(chan adminapi.Firing, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Alert adminapi.Firing }
		json.NewDecoder(r.Body).Decode(&p)
		got <- p.Alert
	}))
	defer hook.Close()
	chFile := writeFile(t, filepath.Join(dir, "hook.json"), `{"name":"hook","type":"webhook","webhook":{"url":"`+hook.URL+`","secret":"k"}}`)
	ok("alerts", "channels", "add", chFile)
	ruleFile := writeFile(t, filepath.Join(dir, "rule.json"), `{"name":"admin knocks","type":"threshold","match":{"kind":"admin_auth"},"threshold":3,"window":"1m","group_by":"ip","channels":["hook"]}`)
	ok("alerts", "rules", "add", ruleFile)
	start := time.Now()
	for i := 0; i < 3; i++ {
		knock(endpoint)
	}
	select {
	case f := <-got:
		if f.Group != "127.0.0.1" || time.Since(start) > 5*time.Second {
			t.Fatalf("alert %+v after %s", f, time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no alert at the webhook within 5s")
	}
	var hist []adminapi.Firing
	json.Unmarshal([]byte(ok("alerts", "history", "--output", "json").stdout), &hist)
	if len(hist) != 1 {
		t.Fatalf("alerts history: %+v", hist)
	}
	ok("alerts", "ack", "1")

	// Bans through the CLI, when the guard's ban store is wired into the admin API.
	if r := runBin(t, "bans", "list", "--data", data); r.code != 0 && strings.Contains(r.stderr, "not available") {
		t.Logf("bans are not wired into the admin API yet: %s", r.stderr)
	} else {
		ok("bans", "add", "203.0.113.9", "--for", "1h", "--reason", "e2e")
		if r := ok("bans", "list"); !strings.Contains(r.stdout, "203.0.113.9") {
			t.Fatalf("bans list: %s", r.stdout)
		}
		ok("bans", "rm", "203.0.113.9")
		if r := ok("bans", "list"); strings.Contains(r.stdout, "203.0.113.9") {
			t.Fatalf("ban not removed: %s", r.stdout)
		}
	}
	// Apps through the CLI, when the app store is wired into the admin API: deploy two
	// versions, see the second serve on the public listener, roll back to the first.
	if r := runBin(t, "apps", "list", "--data", data); r.code != 0 && strings.Contains(r.stderr, "not available") {
		t.Logf("apps are not wired into the admin API yet: %s", r.stderr)
	} else {
		app := filepath.Join(dir, "hello")
		os.MkdirAll(app, 0o755)
		writeFile(t, filepath.Join(app, "app.json"), `{"name":"hello","entry":"index.js","routes":["/hello"]}`)
		deploy := func(text string) {
			writeFile(t, filepath.Join(app, "index.js"), `export default { async fetch(req) { return new Response("`+text+`") } }`)
			ok("apps", "deploy", app)
		}
		deploy("hello v1")
		deploy("hello v2")
		if r := ok("apps", "list"); !strings.Contains(r.stdout, "hello") {
			t.Fatalf("apps list: %s", r.stdout)
		}
		var vs []adminapi.AppVersion
		json.Unmarshal([]byte(ok("apps", "versions", "hello", "--output", "json").stdout), &vs)
		if len(vs) != 2 {
			t.Fatalf("apps versions: %+v", vs)
		}
		get := func() string {
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, ServerName: "localhost"}}}
			defer hc.CloseIdleConnections()
			resp, err := hc.Get("https://" + p.https + "/hello")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if got := get(); got != "hello v2" {
			t.Fatalf("public /hello after deploy: %q", got)
		}
		ok("apps", "rollback", "hello")
		if got := get(); got != "hello v1" {
			t.Fatalf("public /hello after rollback: %q", got)
		}
		ok("apps", "logs", "hello")
		ok("apps", "rm", "hello")
	}

	// Bad input: clear message, non-zero exit, nothing changed.
	register := func() string { // the register without last-use times
		var l []adminapi.Client
		json.Unmarshal([]byte(ok("admin", "list", "--output", "json").stdout), &l)
		var sb strings.Builder
		for _, c := range l {
			sb.WriteString(c.Name + " " + c.Role + " " + c.Serial + " " + c.RevokedAt.String() + "\n")
		}
		return sb.String()
	}
	before := register()
	fails("403", "bans", "add", "198.51.100.1", "--bundle", viewerFile)
	fails("not a valid CIDR", "allow", "add", "10.0.0.0/99")
	fails("--since", "events", "query", "--since", "last tuesday")
	fails("not a positive duration", "bans", "add", "198.51.100.1", "--for", "a while")
	bad := writeFile(t, filepath.Join(dir, "bad-rule.json"), `{"name":"x","type":"any","channels":["hook"],"colour":"red"}`)
	fails("unknown field", "alerts", "rules", "add", bad)
	bad = writeFile(t, filepath.Join(dir, "bad-window.json"), `{"name":"x","type":"threshold","threshold":2,"window":"soon","channels":["hook"]}`)
	fails("window", "alerts", "rules", "add", bad)
	loose := filepath.Join(dir, "loose.bundle")
	b, _ := os.ReadFile(opsFile)
	os.WriteFile(loose, b, 0o644)
	os.Chmod(loose, 0o644)
	fails("chmod 600", "status", "--bundle", loose)
	var nb adminbundle.Bundle
	json.Unmarshal(b, &nb)
	nb.Key = ""
	nokey := filepath.Join(dir, "nokey.bundle")
	nb.Write(nokey)
	fails("private key is missing", "status", "--bundle", nokey)
	fails("--out FILE is required", "admin", "issue", "someone")
	if after := register(); after != before {
		t.Fatalf("bad input changed the client register:\n%s\n%s", before, after)
	}

	// Revoke: the revoked bundle is refused from then on.
	ok("admin", "revoke", "ops")
	fails("certificate rejected", "status", "--bundle", opsFile)
	_ = p
}
