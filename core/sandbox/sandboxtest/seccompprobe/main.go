// Command seccompprobe is a sandbox worker with a hostile passenger, for the seccomp tests:
// it runs exactly what `bulwark sandbox-worker` runs, and on SIGUSR1 (sent once the worker
// has locked itself down and loaded its app) it tries system calls the filter must refuse and
// runtime work the filter must allow, from inside the real worker process, and writes one
// line per attempt to the report file named by its second argument.
//
// It is a test fixture, never part of the appliance binary: app code cannot make system
// calls, so only native code in the worker can show what the kernel refuses.
package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	_ "runtime/cgo" // the appliance binary is a cgo binary: threads start through glibc

	"golang.org/x/sys/unix"

	"bulwark/core/sandbox"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: seccompprobe sandbox-worker REPORT")
		os.Exit(2)
	}
	// Opened before the lockdown, on stdout: the worker keeps descriptors up to its channel.
	f, err := os.OpenFile(os.Args[2], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := unix.Dup2(int(f.Fd()), 1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		for range sig {
			probe()
		}
	}()
	os.Exit(sandbox.WorkerMain())
}

// report writes with a raw write(2): the probe must not depend on anything the filter might
// refuse to tell what it refused.
func report(format string, args ...any) {
	b := []byte(fmt.Sprintf(format, args...) + "\n")
	unix.Write(1, b)
}

func errName(e syscall.Errno) string {
	if e == 0 {
		return "OK"
	}
	return unix.ErrnoName(e)
}

// try reports one raw system call's outcome.
func try(name string, nr uintptr, a ...uintptr) {
	var args [6]uintptr
	copy(args[:], a)
	_, _, e := unix.RawSyscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	report("%s %s", name, errName(e))
}

func probe() {
	pid := uintptr(os.Getpid())
	tid := uintptr(unix.Gettid())
	path := []byte("/proc/self/status\x00")
	exe := []byte("/bin/true\x00")
	argv := []uintptr{uintptr(unsafe.Pointer(&exe[0])), 0}
	var buf [4096]byte
	var fds [2]int32
	fdcwd := unix.AT_FDCWD
	cwd := uintptr(fdcwd)
	bad := ^uintptr(0) // fd -1: an allowed call answers EBADF, a refused one EPERM

	// Ways out of the process.
	try("socket", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	try("socket_unix", unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	try("socketpair", unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, uintptr(unsafe.Pointer(&fds[0])))
	try("connect", unix.SYS_CONNECT, bad, 0, 0)
	try("recvmsg", unix.SYS_RECVMSG, bad, 0, 0)
	try("sendmsg", unix.SYS_SENDMSG, bad, 0, 0)
	try("openat", unix.SYS_OPENAT, cwd, uintptr(unsafe.Pointer(&path[0])), unix.O_RDONLY)
	try("open", unix.SYS_OPEN, uintptr(unsafe.Pointer(&path[0])), unix.O_RDONLY)
	try("openat2", unix.SYS_OPENAT2, cwd, uintptr(unsafe.Pointer(&path[0])), 0, 0)
	try("newfstatat", unix.SYS_NEWFSTATAT, cwd, uintptr(unsafe.Pointer(&path[0])), uintptr(unsafe.Pointer(&buf[0])), 0)
	try("execve", unix.SYS_EXECVE, uintptr(unsafe.Pointer(&exe[0])), uintptr(unsafe.Pointer(&argv[0])), 0)
	try("execveat", unix.SYS_EXECVEAT, cwd, uintptr(unsafe.Pointer(&exe[0])), uintptr(unsafe.Pointer(&argv[0])), 0, 0)
	try("ptrace", unix.SYS_PTRACE, unix.PTRACE_TRACEME)
	try("process_vm_readv", unix.SYS_PROCESS_VM_READV, 1, 0, 0, 0, 0, 0)
	try("kill_other", unix.SYS_KILL, 1, 0)
	try("tgkill_other", unix.SYS_TGKILL, 1, 1, 0)
	try("tkill", unix.SYS_TKILL, tid, 0)
	try("prlimit_other", unix.SYS_PRLIMIT64, 1, unix.RLIMIT_AS, 0, uintptr(unsafe.Pointer(&buf[0])))
	try("io_uring_setup", unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&buf[0])))
	try("bpf", unix.SYS_BPF, 0, 0, 0)
	try("userfaultfd", unix.SYS_USERFAULTFD, 0)
	try("memfd_create", unix.SYS_MEMFD_CREATE, uintptr(unsafe.Pointer(&path[0])), 0)
	try("perf_event_open", unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), bad, 0)
	try("keyctl", unix.SYS_KEYCTL, 0, 0)
	try("unshare", unix.SYS_UNSHARE, unix.CLONE_NEWUSER)
	try("mount", unix.SYS_MOUNT, 0, 0, 0, 0, 0)
	try("ioctl", unix.SYS_IOCTL, bad, 0, 0)
	try("dup", unix.SYS_DUP, bad)
	try("mremap", unix.SYS_MREMAP, 0, 0, 0, 0, 0)
	try("prctl_dumpable", unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 1)
	try("seccomp", unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0) // NULL program: EFAULT if let through
	// Harmless calls the runtime does not make: refused all the same, since each is kernel
	// code a bug could be found in.
	try("uname", unix.SYS_UNAME, uintptr(unsafe.Pointer(&buf[0])))
	try("getcwd", unix.SYS_GETCWD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	try("sysinfo", unix.SYS_SYSINFO, uintptr(unsafe.Pointer(&buf[0])))
	try("getuid", unix.SYS_GETUID)
	try("x32_getpid", unix.SYS_GETPID|0x40000000)

	// Processes: a fork is a clone without CLONE_THREAD; a thread may not bring namespaces.
	r, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 && r == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // the child of a fork that got through
	}
	report("clone_fork %s", errName(e))
	try("clone_thread_newuser", unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_NEWUSER)
	try("clone3", unix.SYS_CLONE3, uintptr(unsafe.Pointer(&buf[0])), 88)

	// Executable memory: goja interprets, nothing in the worker needs it.
	m, _, e := unix.RawSyscall6(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, bad, 0)
	if e == 0 {
		unix.RawSyscall(unix.SYS_MUNMAP, m, 4096, 0)
	}
	report("mmap_exec %s", errName(e))
	m, _, e = unix.RawSyscall6(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, bad, 0)
	report("mmap_rw %s", errName(e))
	if e == 0 {
		try("mprotect_exec", unix.SYS_MPROTECT, m, 4096, unix.PROT_READ|unix.PROT_EXEC)
		try("mprotect_ro", unix.SYS_MPROTECT, m, 4096, unix.PROT_READ)
		// Naming a mapping is allowed; a kernel without anonymous VMA names answers EINVAL.
		name := []byte("probe\x00")
		try("prctl_vma", unix.SYS_PRCTL, unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, m, 4096, uintptr(unsafe.Pointer(&name[0])))
		try("munmap", unix.SYS_MUNMAP, m, 4096)
	}

	// What the worker itself does, which must keep working.
	try("getpid", unix.SYS_GETPID)
	try("kill_self", unix.SYS_KILL, pid, 0)
	try("tgkill_self", unix.SYS_TGKILL, pid, tid, 0)
	try("prlimit_self", unix.SYS_PRLIMIT64, 0, unix.RLIMIT_AS, 0, uintptr(unsafe.Pointer(&buf[0])))
	try("sched_getaffinity", unix.SYS_SCHED_GETAFFINITY, 0, uintptr(len(buf)), uintptr(unsafe.Pointer(&buf[0])))
	try("sched_getaffinity_other", unix.SYS_SCHED_GETAFFINITY, 1, uintptr(len(buf)), uintptr(unsafe.Pointer(&buf[0])))
	try("getrandom", unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&buf[0])), 16, 0)
	var ts unix.Timespec
	try("clock_gettime_thread", unix.SYS_CLOCK_GETTIME, unix.CLOCK_THREAD_CPUTIME_ID, uintptr(unsafe.Pointer(&ts)))
	report("runtime %s", runtimeWork())
	report("done")
}

// runtimeWork does what the Go runtime and glibc do after the lockdown under load: start OS
// threads (more goroutines locked at once than the worker had threads), end one, collect and
// return memory to the kernel, sleep, and read random bytes.
func runtimeWork() string {
	var problems []string
	// Each goroutine holds its own thread until all eight have one, so eight distinct
	// threads must exist at once: some are made after the lockdown.
	var mu sync.Mutex
	tids := map[int]bool{}
	var ready, wg sync.WaitGroup
	release := make(chan struct{})
	for range 8 {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			mu.Lock()
			tids[unix.Gettid()] = true
			mu.Unlock()
			ready.Done()
			<-release
		}()
	}
	allReady := make(chan struct{})
	go func() { ready.Wait(); close(allReady) }()
	select {
	case <-allReady:
	case <-time.After(20 * time.Second):
		problems = append(problems, "locked goroutines did not all start")
	}
	close(release)
	wg.Wait()
	if len(tids) < 8 {
		problems = append(problems, fmt.Sprintf("only %d threads for 8 locked goroutines", len(tids)))
	}
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		close(done)
	}()
	<-done
	big := make([][]byte, 0, 64)
	for range 64 {
		big = append(big, make([]byte, 1<<20))
	}
	big[63][0] = 1
	big = nil
	runtime.GC()
	debug.FreeOSMemory()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		problems = append(problems, "crypto/rand: "+err.Error())
	}
	time.Sleep(10 * time.Millisecond)
	if len(problems) == 0 {
		return "OK"
	}
	return strings.Join(problems, "; ")
}
