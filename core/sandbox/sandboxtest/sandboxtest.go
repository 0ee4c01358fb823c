// Package sandboxtest gives tests real worker processes: it builds the appliance binary once
// per test process (without -race: the race runtime cannot live under an address-space wall)
// and returns how to start it as a sandbox worker.
package sandboxtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"bulwark/core/sandbox"
)

var (
	once     sync.Once
	exe      string
	buildErr error
	buildLog []byte
)

// Worker returns the binary and arguments of a worker process.
func Worker(tb testing.TB) (string, []string) {
	tb.Helper()
	once.Do(build)
	if buildErr != nil {
		tb.Fatalf("build worker binary: %v\n%s", buildErr, buildLog)
	}
	return exe, []string{sandbox.WorkerCommand}
}

// build compiles ./cmd/appliance (the real binary); if the shared tree does not build at the
// moment, it falls back to a main that calls the same sandbox.WorkerMain.
func build() {
	root, err := repoRoot()
	if err != nil {
		buildErr = err
		return
	}
	// One folder for every test process, one binary per process named by its pid: binaries
	// of processes that have exited are removed here, since a test process has no exit hook
	// (a folder per process used to leave a 40 MB binary behind on every run).
	dir := filepath.Join(os.TempDir(), "bulwark-sandboxtest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		buildErr = err
		return
	}
	os.Chmod(dir, 0o755) // workers run as nobody when tests run as root
	removeStale(dir)
	exe = filepath.Join(dir, "bulwark-"+strconv.Itoa(os.Getpid()))
	for _, pkg := range []string{"./cmd/appliance", "./core/sandbox/sandboxtest/worker"} {
		cmd := exec.Command("go", "build", "-o", exe, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		buildLog, buildErr = cmd.CombinedOutput()
		if buildErr == nil {
			os.Chmod(exe, 0o755)
			return
		}
	}
}

// removeStale deletes the binaries of test processes that no longer run. Their workers are
// gone too: a worker dies with its supervisor (Pdeathsig).
func removeStale(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "bulwark-"))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", os.ErrNotExist
		}
		d = parent
	}
}
