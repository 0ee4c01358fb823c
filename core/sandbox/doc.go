// Package sandbox runs an app's JavaScript in worker processes under hard limits.
//
// A goja VM cannot contain its own script: string doubling kills the whole Go process with an
// uncatchable out-of-memory error and native built-ins such as Array.prototype.fill ignore
// Interrupt. So every app runs in its own worker processes (the appliance binary re-executed
// with the hidden "sandbox-worker" command), each with an empty environment, no inherited
// descriptors but its IPC channel, an empty working directory, no_new_privs, a seccomp
// allowlist and an address-space wall. A hostile app can at worst kill its own worker; the
// Supervisor restarts it with backoff and turns every limit hit into an event.
//
// The seccomp filter (seccomp_linux.go, written with golang.org/x/net/bpf) allows only what the
// Go runtime, glibc's thread start and the worker do once locked down: futex, epoll_pwait,
// epoll_ctl, epoll_create1, eventfd2, read, write, close, fcntl (the channel and the poller),
// nanosleep, sched_yield, clock_gettime (thread CPU clocks), gettid, getpid, rt_sigreturn,
// rt_sigprocmask, rt_sigaction, sigaltstack (signals and preemption), munmap, madvise,
// mmap and mprotect never with PROT_EXEC (memory; goja does not JIT), clone for threads only,
// rseq and set_robust_list (glibc thread start), getrandom (crypto), tgkill and kill to itself,
// prlimit64 and sched_getaffinity on itself, prctl(PR_SET_VMA), exit and exit_group. clone3
// answers ENOSYS so glibc falls back to the checked clone; another architecture is killed and
// x32 numbers refused; every other call fails with EPERM: no socket, open, stat, exec, fork,
// ptrace, signal to another process, io_uring, bpf, userfaultfd, keyctl or mount.
//
// Inside a worker a pool of warm goja runtimes, all built from one compiled program, serves
// one request per runtime at a time, under a CPU budget read from the locked OS thread's CPU
// clock, a wall deadline that covers awaits, a call-stack cap and a regexp match timeout. If a
// runtime does not stop shortly after Interrupt the worker exits and the supervisor kills it.
//
// Capabilities (fetch, KV, logs, security signals, sanitize) are not in the worker: the VM
// asks the supervisor over the channel, and the supervisor's Host decides. This package does
// not know what the capabilities do, how apps are stored or routed (core/apps), or what the
// in-VM Web API looks like (an API installs it).
package sandbox
