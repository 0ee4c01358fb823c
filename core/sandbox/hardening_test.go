package sandbox_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"bulwark/core/sandbox"
)

// TestWorkerIsLockedDown looks at a running worker from outside, through /proc: what a
// hostile package would have to work with if it escaped the VM.
func TestWorkerIsLockedDown(t *testing.T) {
	s := start(t, handler(`return new Response('up')`), sandbox.Limits{MemoryMB: 64, Workers: 1, Concurrency: 1}, sandbox.Options{})
	pids := s.Pids()
	if len(pids) != 1 {
		t.Fatalf("pids %v", pids)
	}
	proc := "/proc/" + strconv.Itoa(pids[0])
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, name+":") {
				return strings.TrimSpace(strings.TrimPrefix(l, name+":"))
			}
		}
		return ""
	}
	if field("NoNewPrivs") != "1" {
		t.Errorf("NoNewPrivs = %q", field("NoNewPrivs"))
	}
	if field("Seccomp") != "2" {
		t.Errorf("Seccomp = %q, want 2 (filter)", field("Seccomp"))
	}
	if os.Geteuid() == 0 && !strings.HasPrefix(field("Uid"), "65534") {
		t.Errorf("worker runs as uid %q; root must hand it to nobody", field("Uid"))
	}
	if env, err := os.ReadFile(proc + "/environ"); err != nil || len(env) != 0 {
		t.Errorf("environment %q (%v), want empty", env, err)
	}
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(cwd); err != nil || len(ents) != 0 {
		t.Errorf("working folder %s has %d entries (%v)", cwd, len(ents), err)
	}
	fds, err := os.ReadDir(proc + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, _ := os.Readlink(proc + "/fd/" + fd.Name())
		n, _ := strconv.Atoi(fd.Name())
		switch {
		case n <= 2 && (target == "/dev/null" || strings.HasPrefix(target, "pipe:")):
		case n == 3 && strings.HasPrefix(target, "socket:"):
		case strings.HasPrefix(target, "anon_inode:"):
		default:
			t.Errorf("worker holds fd %d → %s", n, target)
		}
	}
	limits, _ := os.ReadFile(proc + "/limits")
	if !strings.Contains(string(limits), "Max address space") || strings.Contains(lineOf(string(limits), "Max address space"), "unlimited") {
		t.Errorf("no address-space wall: %s", lineOf(string(limits), "Max address space"))
	}
	// A killed worker comes back.
	if err := syscallKill(pids[0]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := s.Pids()
		if len(p) == 1 && p[0] != pids[0] {
			if r, err := get(s, "/"); err == nil && string(r.Body) == "up" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("killed worker was not restarted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.Stats().Restarts < 1 {
		t.Errorf("restart not counted")
	}
}

func lineOf(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
