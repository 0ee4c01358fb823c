package sandbox

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The worker's seccomp filter is an allowlist: once WorkerMain has locked the process down,
// a worker has its channel, its memory and its threads, and the only system calls it may
// make are the ones the Go runtime, glibc's thread start (the appliance is a cgo binary) and
// the worker's own code make from then on. Everything else fails with EPERM, so a bug in
// goja, in a native built-in or in the runtime that lets app code run native code still
// finds no socket, file, exec, fork, other process or rarely used kernel interface to attack.
//
// The list was derived by tracing workers after the lockdown (strace -f over the sandbox and
// apps suites, the hostile suite and benchmarks included, and over a probe that starts and
// ends threads, returns memory and reads random bytes: see hardening_test.go), checked
// against the runtime's own system calls for linux/amd64 (runtime/sys_linux_amd64.s and
// internal/runtime/syscall/linux), and is proved by TestSeccompAllowlist and the full suites
// running under it.

// seccomp_data offsets (linux/seccomp.h): nr, arch, instruction pointer, args[6]. Arguments
// are 64-bit; every argument checked here is an int, pid_t or flag word the kernel reads from
// the low 32 bits, which come first on little-endian amd64.
const (
	offNR   = 0
	offArch = 4
	offArg0 = 16
	offArg2 = 32
)

// x32ABIBit marks an x32 system call number: an x32 number is an x86-64 number with this bit,
// so without this check it would slip past rules written for the plain number.
const x32ABIBit = 0x40000000

// allowedSyscalls are allowed whatever their arguments, each for a named user.
var allowedSyscalls = []struct {
	nr  uint32
	why string
}{
	{unix.SYS_FUTEX, "runtime locks and notes, goroutine parking"},
	{unix.SYS_EPOLL_PWAIT, "netpoller: waiting for the channel"},
	{unix.SYS_READ, "the channel; the poller's eventfd"},
	{unix.SYS_WRITE, "the channel; stderr for fatal errors; the poller's eventfd"},
	{unix.SYS_NANOSLEEP, "runtime usleep (sysmon, spinning)"},
	{unix.SYS_SCHED_YIELD, "runtime osyield"},
	{unix.SYS_CLOCK_GETTIME, "thread CPU clocks of the CPU budget (the vDSO serves the others)"},
	{unix.SYS_GETTID, "runtime thread ids; the VM thread's CPU clock"},
	{unix.SYS_GETPID, "runtime signal code; preemption"},
	{unix.SYS_RT_SIGRETURN, "return from the preemption signal"},
	{unix.SYS_RT_SIGPROCMASK, "thread start and exit (runtime and glibc)"},
	{unix.SYS_RT_SIGACTION, "runtime dieFromSignal, so a fatal signal still ends the process"},
	{unix.SYS_SIGALTSTACK, "runtime signal stack of each new thread"},
	{unix.SYS_MUNMAP, "runtime and glibc memory release, thread stacks"},
	{unix.SYS_MADVISE, "scavenger returning memory, glibc thread exit"},
	{unix.SYS_EPOLL_CTL, "registering the channel with the poller"},
	{unix.SYS_EPOLL_CREATE1, "the poller is made on first use, which may follow the lockdown"},
	{unix.SYS_EVENTFD2, "the poller's wake-up descriptor, made with it"},
	{unix.SYS_FCNTL, "making the channel non-blocking"},
	{unix.SYS_CLOSE, "closing the channel and the poller's descriptors"},
	{unix.SYS_GETRANDOM, "crypto.getRandomValues, randomUUID, map seeds (when the vDSO cannot)"},
	{unix.SYS_RSEQ, "glibc registers each new thread"},
	{unix.SYS_SET_ROBUST_LIST, "glibc registers each new thread"},
	{unix.SYS_EXIT, "a thread ends"},
	{unix.SYS_EXIT_GROUP, "the worker ends"},
}

// cloneThreadFlags are the only clone flags allowed: glibc's pthread_create uses all of them,
// the Go runtime's own clone a subset. Anything else (no CLONE_THREAD is a fork; namespaces,
// ptrace, vfork, pidfds, an exit signal) is refused.
const cloneThreadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID |
	unix.CLONE_CHILD_CLEARTID

// seccompProgram writes the worker's filter with golang.org/x/net/bpf: the Go team's
// classic-BPF assembler, pure Go, already a dependency, and seccomp filters are classic BPF.
// libseccomp-golang would need cgo and a C library in the worker; a filter this size is
// clearer written out than hidden behind one.
//
// In order: another architecture is killed (its system call numbers mean other things, and
// i386 calls through int 0x80 arrive so); x32 numbers are refused; calls allowed only with
// certain arguments are checked (the kernel's seccomp cache cannot skip the filter for these,
// so they come first); then the calls allowed outright (which the cache answers without
// running the filter); the rest fails with EPERM.
//
// Argument checks:
//   - mmap and mprotect: never PROT_EXEC. goja interprets and nothing in the worker maps code
//     after start, so no app can make memory executable.
//   - clone: threads only (cloneThreadFlags, CLONE_THREAD set). clone3 answers ENOSYS: its
//     flags are behind a pointer a filter cannot read, and glibc falls back to clone on ENOSYS.
//   - tgkill and kill: to this process only (the runtime preempts its own threads with tgkill
//     and raises fatal signals on itself with kill).
//   - prlimit64: this process only (the worker sets its own RLIMIT_AS after the lockdown).
//   - sched_getaffinity: this process only (glibc sizes its malloc arenas for a new thread).
//   - prctl: PR_SET_VMA only (the runtime names its anonymous mappings where the kernel can).
func seccompProgram(pid int) ([]bpf.Instruction, error) {
	a := newFilterAsm()
	a.emit(bpf.LoadAbsolute{Off: offArch, Size: 4})
	a.jump(bpf.JumpEqual, unix.AUDIT_ARCH_X86_64, "", "kill")
	a.emit(bpf.LoadAbsolute{Off: offNR, Size: 4})
	a.jump(bpf.JumpGreaterOrEqual, x32ABIBit, "deny", "")
	a.jump(bpf.JumpEqual, unix.SYS_CLONE3, "enosys", "")
	a.jump(bpf.JumpEqual, unix.SYS_MMAP, "no-exec", "")
	a.jump(bpf.JumpEqual, unix.SYS_MPROTECT, "no-exec", "")
	a.jump(bpf.JumpEqual, unix.SYS_TGKILL, "self", "")
	a.jump(bpf.JumpEqual, unix.SYS_CLONE, "thread", "")
	a.jump(bpf.JumpEqual, unix.SYS_KILL, "self", "")
	a.jump(bpf.JumpEqual, unix.SYS_PRLIMIT64, "pid-zero", "")
	a.jump(bpf.JumpEqual, unix.SYS_SCHED_GETAFFINITY, "pid-zero", "")
	a.jump(bpf.JumpEqual, unix.SYS_PRCTL, "vma-name", "")
	for _, s := range allowedSyscalls {
		a.jump(bpf.JumpEqual, s.nr, "allow", "")
	}
	deny := bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	a.emit(deny) // not listed

	a.label("no-exec")
	a.emit(bpf.LoadAbsolute{Off: offArg2, Size: 4})
	a.jump(bpf.JumpBitsSet, unix.PROT_EXEC, "deny", "allow")

	a.label("thread")
	a.emit(bpf.LoadAbsolute{Off: offArg0, Size: 4})
	a.jump(bpf.JumpBitsSet, ^uint32(cloneThreadFlags), "deny", "")
	a.jump(bpf.JumpBitsSet, unix.CLONE_THREAD, "allow", "deny")

	a.label("self")
	a.emit(bpf.LoadAbsolute{Off: offArg0, Size: 4})
	a.jump(bpf.JumpEqual, uint32(pid), "allow", "deny")

	a.label("pid-zero")
	a.emit(bpf.LoadAbsolute{Off: offArg0, Size: 4})
	a.jump(bpf.JumpEqual, 0, "allow", "deny")

	a.label("vma-name")
	a.emit(bpf.LoadAbsolute{Off: offArg0, Size: 4})
	a.jump(bpf.JumpEqual, unix.PR_SET_VMA, "allow", "deny")

	a.label("allow")
	a.emit(bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW})
	a.label("deny")
	a.emit(deny)
	a.label("enosys")
	a.emit(bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)})
	a.label("kill")
	a.emit(bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS})

	return a.resolve()
}

// seccompFilter is seccompProgram in the kernel's form.
func seccompFilter(pid int) ([]unix.SockFilter, error) {
	prog, err := seccompProgram(pid)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// filterAsm lets the filter jump to named labels instead of hand-counted skips, which break
// silently whenever a rule is added above them.
type filterAsm struct {
	prog   []bpf.Instruction
	jumps  []labelJump
	labels map[string]int
}

// labelJump is a conditional jump at prog[at]; an empty label means the next instruction.
type labelJump struct {
	at              int
	onTrue, onFalse string
}

func newFilterAsm() *filterAsm { return &filterAsm{labels: map[string]int{}} }

func (a *filterAsm) emit(i bpf.Instruction) { a.prog = append(a.prog, i) }

func (a *filterAsm) label(name string) { a.labels[name] = len(a.prog) }

func (a *filterAsm) jump(cond bpf.JumpTest, val uint32, onTrue, onFalse string) {
	a.jumps = append(a.jumps, labelJump{at: len(a.prog), onTrue: onTrue, onFalse: onFalse})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

// resolve turns labels into skips; classic BPF only jumps forward, at most 255 instructions.
func (a *filterAsm) resolve() ([]bpf.Instruction, error) {
	skip := func(at int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("seccomp filter: jump at %d to undefined label %q", at, label)
		}
		d := to - at - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("seccomp filter: jump at %d to %q spans %d instructions", at, label, d)
		}
		return uint8(d), nil
	}
	for _, j := range a.jumps {
		ji := a.prog[j.at].(bpf.JumpIf)
		var err error
		if ji.SkipTrue, err = skip(j.at, j.onTrue); err != nil {
			return nil, err
		}
		if ji.SkipFalse, err = skip(j.at, j.onFalse); err != nil {
			return nil, err
		}
		a.prog[j.at] = ji
	}
	return a.prog, nil
}
