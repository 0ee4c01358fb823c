package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// buildProbe builds the seccomp probe (the worker with native code that tries system calls
// once locked down) as a cgo binary like the appliance, into the test's own folder, which the
// test removes when it ends.
func buildProbe(t *testing.T) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			t.Fatal("no go.mod above the test's folder")
		}
		root = filepath.Dir(root)
	}
	dir := t.TempDir()
	// Workers run as nobody when tests run as root: the folder and its parent must be open.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "seccompprobe")
	cmd := exec.Command("go", "build", "-o", exe, "./core/sandbox/sandboxtest/seccompprobe")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build seccomp probe: %v\n%s", err, out)
	}
	return exe
}

// TestSeccompAllowlist attacks the filter from inside a real, locked-down worker that has
// loaded its app: the probe tries the ways out of a process and calls outside the allowlist,
// which must fail with EPERM (ENOSYS for clone3, so a C library falls back to clone, which is
// checked), and does the runtime work the allowlist must permit (new threads through glibc, a
// thread exit, GC returning memory, random bytes). The worker must keep serving afterwards:
// a refused call is an error to the caller, not a death.
func TestSeccompAllowlist(t *testing.T) {
	exe := buildProbe(t)
	rep, err := os.Create(filepath.Join(filepath.Dir(exe), "report"))
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	os.Chmod(rep.Name(), 0o666) // the worker runs as nobody when tests run as root

	s, err := sandbox.Start(sandbox.Options{Exe: exe, Args: []string{sandbox.WorkerCommand, rep.Name()}},
		sandbox.Spec{App: "probe", Version: 1, Program: handler(`return new Response('up')`),
			Limits: sandbox.Limits{MemoryMB: 64, Workers: 1, Concurrency: 2}})
	if err != nil {
		t.Fatalf("start probe worker: %v", err)
	}
	t.Cleanup(s.Close)
	if r, err := get(s, "/"); err != nil || string(r.Body) != "up" {
		t.Fatalf("before the probe: %v", err)
	}
	pids := s.Pids()
	if len(pids) != 1 {
		t.Fatalf("pids %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(rep.Name())
		if strings.Contains(string(b), "\ndone\n") {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				name, res, _ := strings.Cut(l, " ")
				got[name] = res
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe did not finish; report so far:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("probe report: %v", got)
	want := map[string]string{
		"clone3": "ENOSYS",
		// Allowed, and working.
		"mmap_rw": "OK", "mprotect_ro": "OK", "munmap": "OK", "getpid": "OK", "kill_self": "OK",
		"tgkill_self": "OK", "prlimit_self": "OK", "getrandom": "OK", "clock_gettime_thread": "OK",
		"runtime": "OK", "sched_getaffinity": "OK",
	}
	if got["prctl_vma"] != "OK" && got["prctl_vma"] != "EINVAL" { // EINVAL: kernel without anonymous VMA names
		t.Errorf("prctl_vma: %q, want OK or EINVAL", got["prctl_vma"])
	}
	for _, name := range []string{
		"socket", "socket_unix", "socketpair", "connect", "recvmsg", "sendmsg",
		"openat", "open", "openat2", "newfstatat", "execve", "execveat",
		"ptrace", "process_vm_readv", "kill_other", "tgkill_other", "tkill", "prlimit_other",
		"io_uring_setup", "bpf", "userfaultfd", "memfd_create", "perf_event_open", "keyctl",
		"unshare", "mount", "ioctl", "dup", "mremap", "prctl_dumpable", "seccomp",
		"uname", "getcwd", "sysinfo", "getuid", "x32_getpid",
		"clone_fork", "clone_thread_newuser", "mmap_exec", "mprotect_exec", "sched_getaffinity_other",
	} {
		want[name] = "EPERM"
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %s", name, got[name], w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && name != "done" && name != "prctl_vma" {
			t.Errorf("probe reported %q that the test does not check", name)
		}
	}
	if p := s.Pids(); len(p) != 1 || p[0] != pids[0] {
		t.Fatalf("worker changed from %v to %v: a refused call killed it", pids, p)
	}
	if r, err := get(s, "/"); err != nil || string(r.Body) != "up" {
		t.Fatalf("after the probe: %v", err)
	}
}
