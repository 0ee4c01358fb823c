package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the bulwark binary built once for this package's tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulwark-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Sandbox workers re-execute this binary as an unprivileged user: the folder must be
	// enterable by others (MkdirTemp makes it 0700).
	os.Chmod(dir, 0o755)
	bin = filepath.Join(dir, "bulwark")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, so.String(), se.String()}
}

// snapshot maps every file under dir to its content and mode, to prove nothing changed.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		st, _ := os.Stat(p)
		out[p] = fmt.Sprintf("%v %x", st.Mode(), b)
		return nil
	})
	return out
}

func writeFile(t *testing.T, path, s string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loopbackConfig is a config file with ports of the kernel's choice (admin included unless
// extra has its own [admin] table, so tests never collide with each other or with
// `make run`). extra follows the [server] table: bare keys land in it.
func loopbackConfig(t *testing.T, extra string) string {
	cfg := "[server]\nlisten = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\n" + extra
	if !strings.Contains(extra, "[admin]") {
		cfg += "\n[admin]\nlisten = \"127.0.0.1:0\"\n"
	}
	return writeFile(t, filepath.Join(t.TempDir(), "bulwark.toml"), cfg)
}

func TestInitIsIdempotentAndNeverOverwritesKeys(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	r := runBin(t, "init", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "created CA") {
		t.Fatalf("first init: %+v", r)
	}
	st, err := os.Stat(data)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data folder mode: %v %v", st.Mode(), err)
	}
	for _, f := range []string{"ca.pem", "ca.key", "server.pem", "server.key"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Fatalf("%s missing: %v", f, err)
		}
	}
	keyMode, _ := os.Stat(filepath.Join(data, "ca.key"))
	if keyMode.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode %v", keyMode.Mode())
	}
	before := snapshot(t, data)
	r = runBin(t, "init", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "kept existing CA") {
		t.Fatalf("second init: %+v", r)
	}
	after := snapshot(t, data)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed by a second init", p)
		}
	}
}

// Bad input: each is a one-line error naming what and where, a non-zero exit, and no
// existing file in the data folder changes.
func TestBadInput(t *testing.T) {
	occupied, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer occupied.Close()

	type tc struct {
		setup func(t *testing.T, data string) []string // returns args after "serve"
		want  []string
	}
	cases := map[string]tc{
		"malformed config": {func(t *testing.T, data string) []string {
			p := writeFile(t, filepath.Join(t.TempDir(), "bad.toml"), "[server\nlisten = \"x\"\n")
			return []string{"--config", p, "--data", data}
		}, []string{"bad.toml", "line 1"}},
		"unknown key": {func(t *testing.T, data string) []string {
			p := writeFile(t, filepath.Join(t.TempDir(), "unknown.toml"), "[server]\nlisten = \"127.0.0.1:0\"\nlisten_port = 8443\n")
			return []string{"--config", p, "--data", data}
		}, []string{"unknown.toml", "line 3", "server.listen_port"}},
		"missing config": {func(t *testing.T, data string) []string {
			return []string{"--config", filepath.Join(data, "nope.toml"), "--data", data}
		}, []string{"nope.toml"}},
		"unreadable data folder": {func(t *testing.T, data string) []string {
			if err := os.Chmod(data, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(data, 0o700) })
			return []string{"--config", loopbackConfig(t, ""), "--data", data}
		}, []string{"data folder", "chmod 700"}},
		"data folder is a file": {func(t *testing.T, data string) []string {
			f := writeFile(t, filepath.Join(t.TempDir(), "plainfile"), "x")
			return []string{"--config", loopbackConfig(t, ""), "--data", f}
		}, []string{"plainfile", "not a directory"}},
		"occupied port": {func(t *testing.T, data string) []string {
			cfg := writeFile(t, filepath.Join(t.TempDir(), "c.toml"),
				fmt.Sprintf("[admin]\nlisten = \"127.0.0.1:0\"\n[server]\nlisten = %q\nhttp_listen = \"127.0.0.1:0\"\n", occupied.Addr()))
			return []string{"--config", cfg, "--data", data}
		}, []string{"server.listen", occupied.Addr().String(), "already in use"}},
		"corrupt certificate": {func(t *testing.T, data string) []string {
			writeFile(t, filepath.Join(data, "server.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
			return []string{"--config", loopbackConfig(t, ""), "--data", data}
		}, []string{"server.pem"}},
		"corrupt CA": {func(t *testing.T, data string) []string {
			writeFile(t, filepath.Join(data, "ca.pem"), "garbage")
			return []string{"--config", loopbackConfig(t, ""), "--data", data}
		}, []string{"ca.pem"}},
		"bad value": {func(t *testing.T, data string) []string {
			return []string{"--config", loopbackConfig(t, "max_body_bytes = 0\n"), "--data", data}
		}, []string{"server.max_body_bytes"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if r := runBin(t, "init", "--data", data); r.code != 0 {
				t.Fatalf("init: %+v", r)
			}
			args := c.setup(t, data)
			os.Chmod(data, 0o700)
			before := snapshot(t, data)
			if name == "unreadable data folder" {
				os.Chmod(data, 0)
			}
			r := runBin(t, append([]string{"serve"}, args...)...)
			os.Chmod(data, 0o700)
			if r.code == 0 {
				t.Fatalf("exit 0; stderr %q", r.stderr)
			}
			// Log lines before the failure are JSON; the error itself must be one plain line.
			var plain []string
			for _, l := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
				if !strings.HasPrefix(l, "{") {
					plain = append(plain, l)
				}
			}
			if len(plain) != 1 || !strings.HasPrefix(plain[0], "bulwark serve: ") {
				t.Fatalf("error is not one line:\n%s", r.stderr)
			}
			msg := plain[0]
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			after := snapshot(t, data)
			for p, v := range before {
				if after[p] != v {
					t.Errorf("%s changed", p)
				}
			}
		})
	}
}

// serveProc is a running `bulwark serve` child.
type serveProc struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	https string
	http  string
	pool  *x509.CertPool
	all   *bytes.Buffer
}

func startServe(t *testing.T, data, cfg string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--data", data)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, lines: make(chan map[string]any, 1000), all: &bytes.Buffer{}}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"raw": sc.Text()}
			}
			p.lines <- m
		}
		close(p.lines)
	}()
	for p.https == "" || p.http == "" {
		m := p.next(t, "listening")
		switch m["listener"] {
		case "https":
			p.https = m["addr"].(string)
		case "http":
			p.http = m["addr"].(string)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AppendCertsFromPEM(caPEM)
	return p
}

// next waits for a log line with msg.
func (p *serveProc) next(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				t.Fatalf("serve exited before logging %q", msg)
			}
			if m["msg"] == msg {
				return m
			}
			if m["raw"] != nil || m["level"] == "ERROR" || m["level"] == "WARN" {
				t.Logf("serve: %v", m)
			}
		case <-timeout:
			t.Fatalf("no %q log line within 60s", msg)
		}
	}
}

// TestServeDrainsOnSIGTERM runs the real binary, starts a request, sends SIGTERM while the
// request is half sent, finishes it, and expects its full response and a clean exit.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, data, loopbackConfig(t, "shutdown_timeout = \"20s\"\n"))

	// A normal request with the CA from the data folder, and the access line for it.
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	res, err := cl.Get("https://" + p.https + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Bulwark") {
		t.Fatalf("GET /: %d %.200q", res.StatusCode, body)
	}
	line := p.next(t, "request")
	for _, k := range []string{"method", "host", "path", "status", "bytes", "ms", "ip", "id", "app", "kind", "action", "rule"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access line lacks %q: %v", k, line)
		}
	}

	// Plain HTTP redirects to HTTPS.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := noFollow.Get("http://" + p.http + "/x"); err != nil || res.StatusCode != 301 ||
		res.Header.Get("Location") != "https://"+p.https+"/x" {
		t.Fatalf("redirect: %v %v", res, err)
	}

	// SIGTERM: the appliance drains, stops and exits 0. (Draining of requests in flight is
	// tested against the same code with a slow handler in core/server and core/appliance.)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.next(t, "draining")
	p.next(t, "stopped")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		if c, err := net.DialTimeout("tcp", p.https, time.Second); err == nil {
			c.Close()
			t.Fatal("port still accepting after exit")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after draining")
	}
}
