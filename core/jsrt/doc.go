// Package jsrt is the Web API an app sees inside its goja runtime: Request, Response,
// Headers, URL, URLSearchParams, TextEncoder/TextDecoder, atob/btoa, crypto (random values,
// UUIDs, SHA digests, HMAC), console, fetch, env (plain values, secrets, KV), sanitizeHTML,
// ctx.security and ctx.waitUntil, plus the small event loop that lets async handlers await
// host calls and bounded timers.
//
// Every capability goes through the Host interface, which the sandbox implements by asking
// the supervisor; this package holds no authority of its own. The boundary rules: host
// functions take only primitives and ArrayBuffers (copied), return fresh JS values, run
// inside recover, and never receive Go structs or maps (a field-name mapper hides any that
// slip through); values an app throws are described in Go without running script code, so no
// toString or getter trap runs on the host's behalf. Nothing else is in scope: no require,
// process, Deno, files or sockets.
//
// It does not enforce CPU, memory or wall limits by itself beyond the context deadline it is
// given; the sandbox measures CPU and calls Interrupt.
package jsrt
