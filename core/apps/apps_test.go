package apps_test

import (
	"archive/zip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bulwark/core/apps"
	"bulwark/core/bundle"
	"bulwark/core/event"
	"bulwark/core/manifest"
	"bulwark/core/sandbox"
	"bulwark/core/sandbox/sandboxtest"
	"bulwark/db"
)

type events struct {
	mu sync.Mutex
	l  []event.Event
}

func (e *events) Emit(ev event.Event) { e.mu.Lock(); e.l = append(e.l, ev); e.mu.Unlock() }
func (e *events) count(k event.Kind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.l {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

type env struct {
	t   testing.TB
	m   *apps.Manager
	db  *db.DB
	ev  *events
	srv *httptest.Server
	cfg apps.Config
}

func newEnv(t testing.TB, caps apps.Capabilities) *env {
	t.Helper()
	return newEnvWith(t, caps, nil)
}

func newEnvWith(t testing.TB, caps apps.Capabilities, adjust func(*apps.Config)) *env {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	exe, args := sandboxtest.Worker(t)
	ev := &events{}
	cfg := apps.Config{DB: d, Builder: apps.Bundler(bundle.Options{}), Events: ev, Caps: caps,
		Sandbox:      sandbox.Options{Exe: exe, Args: args, RestartBackoff: 10 * time.Millisecond, RestartBackoffMax: 200 * time.Millisecond},
		DrainTimeout: 2 * time.Second}
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := apps.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	srv := httptest.NewTLSServer(m)
	t.Cleanup(srv.Close)
	return &env{t: t, m: m, db: d, ev: ev, srv: srv, cfg: cfg}
}

func (e *env) get(host, path string) (int, string) {
	e.t.Helper()
	return e.do("GET", host, path, "")
}

func (e *env) do(method, host, path, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Host = host
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// appCopy copies a testdata app into a temp folder, replacing old with new in its files.
func appCopy(t testing.TB, name, old, new string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	src := filepath.Join("testdata", name)
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if old != "" {
			b = []byte(strings.ReplaceAll(string(b), old, new))
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestDeployVersionsRollbackAndPages(t *testing.T) {
	e := newEnv(t, apps.Capabilities{})
	ctx := context.Background()

	if code, _ := e.get("hello.test", "/"); code != 404 {
		t.Fatalf("before deploy: %d, want 404", code)
	}
	r1, err := e.m.Deploy(ctx, "testdata/hello")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("v%d started in %s", r1.Version, r1.Startup)
	if code, body := e.get("hello.test", "/a"); code != 200 || body != "v1 /a" {
		t.Fatalf("v1: %d %q", code, body)
	}
	r2, err := e.m.Deploy(ctx, appCopy(t, "hello", `"v1"`, `"v2"`))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Version != 2 || r2.Previous != 1 {
		t.Fatalf("deploy result %+v", r2)
	}
	if code, body := e.get("hello.test", "/a"); code != 200 || body != "v2 /a" {
		t.Fatalf("v2: %d %q", code, body)
	}

	// Failing deploys: each names what is wrong, and v2 keeps serving.
	bad := []struct{ dir, want string }{
		{"testdata/broken-syntax", "index.js:"},
		{"testdata/throws", "this version cannot answer"},
		{"testdata/uses-fs", `"fs"`},
		{"testdata/badmanifest", "limits.cpu_ms"},
		{"testdata/noentry", "missing.js"},
	}
	for _, b := range bad {
		_, err := e.m.Deploy(ctx, b.dir)
		if err == nil {
			t.Errorf("%s deployed", b.dir)
			continue
		}
		if !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %q does not mention %s", b.dir, err, b.want)
		}
		t.Logf("%s: %v", b.dir, err)
		if code, body := e.get("hello.test", "/a"); code != 200 || body != "v2 /a" {
			t.Fatalf("after failed deploy of %s: %d %q", b.dir, code, body)
		}
	}
	// Archives with a path out of the folder or a symlink are refused before anything runs.
	for name, entries := range map[string][]zipEntry{
		"dotdot.zip":  {{"app.json", "{}", false}, {"../escape.js", "x", false}},
		"symlink.zip": {{"app.json", "{}", false}, {"index.js", "/etc/passwd", true}},
	} {
		p := writeZip(t, name, entries)
		_, err := e.m.Deploy(ctx, p)
		if err == nil {
			t.Errorf("%s deployed", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if code, body := e.get("hello.test", "/a"); code != 200 || body != "v2 /a" {
			t.Fatalf("after %s: %d %q", name, code, body)
		}
	}

	// A TypeScript type error deploys, with a warning.
	r3, err := e.m.Deploy(ctx, "testdata/ts")
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Warnings) == 0 {
		t.Errorf("TypeScript deploy without a warning")
	}
	if code, body := e.get("hello.test", "/"); code != 200 || body != "ts not a number" {
		t.Fatalf("ts: %d %q", code, body)
	}

	// Rollback to any earlier version.
	if _, err := e.m.Rollback(ctx, "hello", 1); err != nil {
		t.Fatal(err)
	}
	if _, body := e.get("hello.test", "/a"); body != "v1 /a" {
		t.Fatalf("after rollback: %q", body)
	}
	vs, err := e.m.Versions(ctx, "hello")
	if err != nil || len(vs) != 3 || !vs[0].Active {
		t.Fatalf("versions %+v %v", vs, err)
	}
	// Versions are immutable in the store itself.
	if err := e.db.Write(ctx, func(tx *sqlTx) error {
		_, err := tx.ExecContext(ctx, `UPDATE apps_versions SET program = 'x' WHERE app = 'hello'`)
		return err
	}); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("update of a stored version: %v", err)
	}

	// Pages: no app, out of time, worker died.
	if code, body := e.get("other.test", "/"); code != 404 || !strings.Contains(body, "404") {
		t.Errorf("unrouted host: %d", code)
	}
	if code, _ := e.get("hello.test", "/loop"); code != 504 {
		t.Errorf("cpu loop: %d, want 504", code)
	}
	if code, _ := e.get("hello.test", "/oom"); code != 502 && code != 504 {
		t.Errorf("memory blow-up: %d, want 502 (or 504 if CPU ran out first)", code)
	}
	if e.ev.count(event.SandboxCPU) == 0 {
		t.Errorf("no sandbox_cpu event")
	}
	// The app is back after its worker died.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := e.get("hello.test", "/a")
		if code == 200 && body == "v1 /a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app did not come back: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A new manager over the same database serves the active version (appliance restart).
	e.m.Close()
	m2, err := apps.New(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	srv := httptest.NewTLSServer(m2)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/z", nil)
	req.Host = "hello.test"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "v1 /z" {
		t.Fatalf("after restart: %q", b)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	e := newEnv(t, apps.Capabilities{})
	ctx := context.Background()
	if _, err := e.m.Deploy(ctx, "testdata/hello"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SetLimits(ctx, "hello", manifest.Limits{Concurrency: 1, Workers: 1, CPUMs: 500}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := e.get("hello.test", "/slow")
			codes <- c
		}()
	}
	wg.Wait()
	close(codes)
	seen := map[int]int{}
	for c := range codes {
		seen[c]++
	}
	if seen[503] == 0 || seen[200] == 0 {
		t.Fatalf("40 concurrent slow requests on one runtime: %v, want some 200 and some 503", seen)
	}
	t.Logf("statuses %v", seen)
}

func TestNpmPackageMarked(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is needed to install the test app's package (packaging/devdeps.sh installs it)")
	}
	dir := appCopy(t, "marked", "", "")
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install marked: %v\n%s", err, out)
	}
	e := newEnv(t, apps.Capabilities{})
	res, err := e.m.Deploy(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("marked app v%d serving after %s", res.Version, res.Startup)
	code, body := e.get("md.test", "/")
	if code != 200 || !strings.Contains(body, "<h1>Hello</h1>") || !strings.Contains(body, "<em>marked</em>") {
		t.Fatalf("marked: %d %q", code, body)
	}
	code, body = e.do("POST", "md.test", "/", "- a\n- b\n\n`code`")
	if code != 200 || !strings.Contains(body, "<li>a</li>") || !strings.Contains(body, "<code>code</code>") {
		t.Fatalf("marked POST: %d %q", code, body)
	}
}

type zipEntry struct {
	name, body string
	symlink    bool
}

func writeZip(t testing.TB, name string, entries []zipEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.symlink {
			h.SetMode(os.ModeSymlink | 0o777)
		} else {
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}
