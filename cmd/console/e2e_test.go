package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries builds bulwark and bulwark-console once per test run, without -race so the
// Makefile's build cache serves them.
type binaries struct {
	once             sync.Once
	dir              string
	bulwark, console string
	err              error
}

var bins binaries

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

func build(t *testing.T) (bulwark, console string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "bulwark-console-test-")
		if bins.err != nil {
			return
		}
		root := repoRoot(t)
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		for _, b := range []struct{ out, pkg string }{{"bulwark", "./cmd/appliance"}, {"bulwark-console", "./cmd/console"}} {
			cmd := exec.Command(gobin, "build", "-o", filepath.Join(bins.dir, b.out), b.pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
		bins.bulwark, bins.console = filepath.Join(bins.dir, "bulwark"), filepath.Join(bins.dir, "bulwark-console")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.bulwark, bins.console
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve starts a real appliance on loopback and returns its data folder and public address.
func serve(t *testing.T, bulwark string) (data, public string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	public, admin := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "bulwark.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[server]\nlisten = %q\nhttp_listen = \"\"\n\n[admin]\nlisten = %q\n", public, admin)), 0o600)
	cmd := exec.Command(bulwark, "serve", "--config", cfg, "--data", data)
	var log strings.Builder
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("bulwark serve log:\n%s", log.String())
			mu.Unlock()
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", admin, time.Second)
		if err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(data, "admin.bundle")); err == nil {
				return data, public
			}
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("appliance did not start in 90s:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// publicClient is an HTTP client for the public listener that trusts the appliance CA in data.
func publicClient(t *testing.T, data string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// attack sends each path to the public listener over real TLS (trusting the appliance CA).
func attack(t *testing.T, data, public string, paths ...string) {
	t.Helper()
	hc := publicClient(t, data)
	defer hc.CloseIdleConnections()
	for _, p := range paths {
		resp, err := hc.Get("https://" + public + p)
		if err != nil {
			t.Fatalf("attack %s: %v", p, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// The whole path: a real appliance is attacked, the console connects under Xvfb with the
// appliance's own first admin bundle, and its dashboard shows the attacks (stored ones in
// the counters and top lists, new ones in the live feed).
func TestEndToEndDashboardShowsAttacks(t *testing.T) {
	if _, err := exec.LookPath("xvfb-run"); err != nil {
		t.Fatal("xvfb-run is missing: run make deps (packaging/devdeps.sh installs xvfb)")
	}
	bulwark, console := build(t)
	data, public := serve(t, bulwark)
	attack(t, data, public, "/.env", "/.git/config", "/.env", "/wp-config.php.bak")

	run := t.TempDir()
	os.Chmod(run, 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xvfb-run", "-a", "-s", "-screen 0 1280x820x24", console,
		"--bundle", filepath.Join(data, "admin.bundle"), "--config-dir", filepath.Join(t.TempDir(), "appliances"),
		"--tour", "3s", "--tour-screens", "dashboard", "--refresh", "1s")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+run, "LIBGL_ALWAYS_SOFTWARE=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var summary string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "screen dashboard":
			// New attacks while the dashboard is up must reach its live feed.
			attack(t, data, public, "/.git/HEAD", "/.env")
		case strings.HasPrefix(line, "summary dashboard "):
			summary = line
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("console: %v\n%s", err, stderr.String())
	}
	if summary == "" {
		t.Fatalf("the console never reported its dashboard\n%s", stderr.String())
	}
	t.Log(summary)
	for _, want := range []string{`state="connected"`, "/.env:", "/.git/config:", "127.0.0.1:", "probe:/.git/HEAD"} {
		if !strings.Contains(summary, want) {
			t.Errorf("dashboard lacks %s:\n%s", want, summary)
		}
	}
	var chart float64
	if i := strings.Index(summary, "chart="); i >= 0 {
		fmt.Sscanf(summary[i+len("chart="):], "%g", &chart)
	}
	if chart < 4 {
		t.Errorf("chart counts %v events, want at least the 4 stored attacks:\n%s", chart, summary)
	}
}
