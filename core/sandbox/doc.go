// Package sandbox runs an app's JavaScript in worker processes under hard limits.
//
// A goja VM cannot contain its own script: string doubling kills the whole Go process with an
// uncatchable out-of-memory error and native built-ins such as Array.prototype.fill ignore
// Interrupt. So every app runs in its own worker processes (the appliance binary re-executed
// with the hidden "sandbox-worker" command), each with an empty environment, no inherited
// descriptors but its IPC channel, an empty working directory, no_new_privs, a seccomp filter
// that refuses sockets, exec and file opens, and an address-space wall. A hostile app can at
// worst kill its own worker; the Supervisor restarts it with backoff and turns every limit hit
// into an event.
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
