package jsrt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// handle runs one request with a deadline and returns the response or error.
func handle(v *VM, d time.Duration) (Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return v.Handle(ctx, Request{Method: "GET", URL: "https://a.test/", Header: http.Header{}})
}

// TestThrownValuesDescribedWithoutRunningScript throws odd values whose toString, getters or
// proxy traps would set globalThis.trapped if the host touched them.
func TestThrownValuesDescribedWithoutRunningScript(t *testing.T) {
	cases := []struct{ throw, name, msg string }{
		{`undefined`, "undefined", ""},
		{`null`, "null", ""},
		{`42`, "thrown number", "42"},
		{`"plain string"`, "thrown string", "plain string"},
		{`Symbol("sym")`, "thrown symbol", "sym"},
		{`true`, "thrown boolean", "true"},
		{`new TypeError("real error")`, "TypeError", "real error"},
		{`{ toString() { trap(); return "x" }, valueOf() { trap(); return 1 } }`, "Object", "a non-Error Object was thrown"},
		{`{ get message() { trap(); return "m" }, get name() { trap(); return "n" } }`, "Object", ""},
		{`new Proxy({}, { get() { trap() }, getOwnPropertyDescriptor() { trap() }, getPrototypeOf() { trap() }, ownKeys() { trap(); return [] } })`, "Proxy", "proxy"},
		{`(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy })()`, "Proxy", "proxy"},
		{`(() => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { trap(); return "m" } }); return e })()`, "Error", ""},
		{`(() => { const e = new Error("x"); Object.setPrototypeOf(e, new Proxy(Error.prototype, { get() { trap() }, getOwnPropertyDescriptor() { trap() } })); return e })()`, "Error", "x"},
		{`(() => { class E extends Error { get name() { trap(); return "E" } }; return new E("sub") })()`, "Error", "sub"},
		{`Object.create(null)`, "Object", ""},
		{`function f() { trap() }`, "Function", ""},
		{`[1, 2, { toString() { trap() } }]`, "Array", ""},
		{`(() => { const e = new Error("m"); Object.defineProperty(e, "message", { get() { trap() } }); Object.defineProperty(Object.prototype, "value", { get() { if (!globalThis.checking) trap(); return "polluted" }, configurable: true }); return e })()`, "Error", ""},
	}
	for _, c := range cases {
		t.Run(c.throw, func(t *testing.T) {
			v := newVM(t, `globalThis.trapped = 0; globalThis.trap = () => { globalThis.trapped++ }
				export default { async fetch(req) {
					if (req.url.endsWith("/check")) { globalThis.checking = true; return new Response(String(globalThis.trapped)) }
					throw `+c.throw+`
				} }`, newHost(), Options{})
			_, err := handle(v, 2*time.Second)
			var se *ScriptError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if se.Name != c.name || !strings.Contains(se.Message, c.msg) || c.msg == "" && se.Name == "Error" && se.Message != "" {
				t.Errorf("got %q / %q, want %q / %q", se.Name, se.Message, c.name, c.msg)
			}
			_ = se.Error()
			res, err := v.Handle(context.Background(), Request{Method: "GET", URL: "https://a.test/check"})
			if err != nil || string(res.Body) != "0" {
				t.Errorf("host ran script code while describing the thrown value: trapped=%q err=%v", res.Body, err)
			}
		})
	}
}

func TestEscapesContained(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"host function constructor is the realm's Function", `const F = crypto.getRandomValues.constructor; const g = F("return this")();
			return new Response([F === Function, g === globalThis, typeof g.require, typeof g.process].join(","))`, "true,true,undefined,undefined"},
		{"API functions are not constructors", `const out = []; for (const f of [crypto.randomUUID, atob, btoa, fetch, console.log, sanitizeHTML]) { try { new f("x"); out.push("constructed") } catch (e) { out.push(e.constructor.name) } }
			return new Response(out.join(","))`, "TypeError,TypeError,TypeError,TypeError,TypeError,TypeError"},
		{"no Go reflection on URL", `const u = new URL("https://a.test/x"); return new Response([u.String, u.url, u.searchParams.Encode, u.searchParams.Len, Object.getOwnPropertyNames(u).length].join(","))`, ",,,,0"},
		{"no host object reachable", `const seen = Object.getOwnPropertyNames(globalThis).filter(n => /host|bulwark_host|__/.test(n)); return new Response(seen.join(","))`, "__bulwark_app"},
		{"prototype pollution of host objects", `Object.prototype.status = 999; Object.prototype.headers = {evil: "1"};
			const r = new Response("ok", { status: 202, headers: { a: "b" } });
			Array.prototype.push = () => { throw new Error("no push") };
			Array.prototype[Symbol.iterator] = function* () { yield ["evil", "1"] };
			Object.defineProperty(Object.prototype, "value", { get() { return "polluted" }, configurable: true });
			return r`, "ok"},
		{"polluting crypto and console is refused", `"use strict"; const out = []; for (const [o, k] of [[crypto, "subtle"], [crypto.subtle, "digest"], [console, "log"]]) { try { o[k] = null; out.push("replaced") } catch (e) { out.push(e.constructor.name) } }
			return new Response(out.join(","))`, "TypeError,TypeError,TypeError"},
		{"Symbol.species on Array and Promise", `class Evil extends Array { constructor() { super(); return ["x-evil", "1"] } }
			Object.defineProperty(Array, Symbol.species, { get() { return Evil }, configurable: true });
			Object.defineProperty(Promise, Symbol.species, { get() { return function (exec) { exec(() => {}, () => {}) } }, configurable: true });
			const h = new Headers({ a: "1" }); h.append("b", "2");
			return new Response("species", { headers: h })`, "species"},
		{"forged CryptoKey", `const fake = Object.create(CryptoKey.prototype); try { await crypto.subtle.sign("HMAC", fake, new Uint8Array(1)); return new Response("signed") } catch (e) { return new Response(e.constructor.name) }`, "TypeError"},
		{"getter traps on values passed to host", `let calls = 0; const evil = { toString() { calls++; return "<b>x</b>" } };
			const out = sanitizeHTML(evil); btoa({ toString() { calls++; return "a" } }); console.log({ get x() { calls++; return 1 } });
			return new Response(out + calls)`, "<b>x</b>3"},
		{"throwing from toString passed to host", `try { sanitizeHTML({ toString() { throw new RangeError("from toString") } }) } catch (e) { return new Response(e.constructor.name + ":" + e.message) }`, "RangeError:from toString"},
		{"thenable pollution of Object.prototype", `Object.prototype.then = function (ok) { delete Object.prototype.then; ok(new Response("swapped")) };
			return new Response("original")`, "swapped"},
		{"remembered header checks trust no inherited key", `Object.prototype["bad name"] = "bad name"; Object.prototype["v\r\nSet-Cookie: a=1"] = "v";
			const out = [];
			for (let i = 0; i < 2; i++) {
				try { new Headers({ "bad name": "1" }); out.push("name accepted") } catch (e) { out.push(e.constructor.name) }
				try { new Headers({ a: "v\r\nSet-Cookie: a=1" }); out.push("value accepted") } catch (e) { out.push(e.constructor.name) }
				out.push(new Headers({ "X-A": " v " }).get("x-a"));
			}
			return new Response(out.join(","))`, "TypeError,TypeError,v,TypeError,TypeError,v"},
		{"header injection refused", `try { return new Response("x", { headers: { "X-A": "v\r\nSet-Cookie: evil=1" } }) } catch (e) { return new Response(e.constructor.name) }`, "TypeError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := run(t, newHost(), Options{}, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	// The polluted Object.prototype.status must not leak into the response the host reads.
	v := newVM(t, `export default { async fetch() { Object.prototype.status = 999; Object.prototype[3] = "injected"; return new Response("ok", { status: 202 }) } }`, newHost(), Options{})
	res, err := handle(v, 2*time.Second)
	if err != nil || res.Status != 202 || string(res.Body) != "ok" {
		t.Fatalf("res = %+v err = %v", res, err)
	}
}

func TestLimitsAndFailures(t *testing.T) {
	h := newHost()
	t.Run("deadline interrupts a busy loop", func(t *testing.T) {
		v := newVM(t, `export default { fetch() { for (;;) {} } }`, h, Options{})
		start := time.Now()
		_, err := handle(v, 100*time.Millisecond)
		if !errors.Is(err, ErrDeadline) || time.Since(start) > 2*time.Second {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
	})
	t.Run("deadline covers awaits", func(t *testing.T) {
		v := newVM(t, `export default { async fetch() { await new Promise(r => setTimeout(r, 10000)); return new Response("late") } }`, h, Options{})
		_, err := handle(v, 100*time.Millisecond)
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("loop that swallows exceptions", func(t *testing.T) {
		v := newVM(t, `export default { fetch() { for (;;) { try { for (;;) {} } catch (e) {} } } }`, h, Options{})
		if _, err := handle(v, 100*time.Millisecond); !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("microtask starvation", func(t *testing.T) {
		v := newVM(t, `export default { async fetch() { const spin = () => Promise.resolve().then(spin); spin(); await new Promise(() => {}) } }`, h, Options{})
		if _, err := handle(v, 100*time.Millisecond); !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Interrupt from a CPU timer", func(t *testing.T) {
		v := newVM(t, `export default { fetch() { for (;;) {} } }`, h, Options{})
		time.AfterFunc(50*time.Millisecond, func() { v.Interrupt("cpu budget") })
		_, err := handle(v, 5*time.Second)
		var ie *InterruptedError
		if !errors.As(err, &ie) || ie.Reason != "cpu budget" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stack overflow", func(t *testing.T) {
		v := newVM(t, `export default { fetch() { const f = (n) => f(n + 1) + 1; return f(0) } }`, h, Options{StackDepth: 200})
		if _, err := handle(v, 2*time.Second); !errors.Is(err, ErrStackOverflow) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("never-settling promise", func(t *testing.T) {
		v := newVM(t, `export default { fetch() { return new Promise(() => {}) } }`, h, Options{})
		if _, err := handle(v, 2*time.Second); !errors.Is(err, ErrStalled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not a Response", func(t *testing.T) {
		for _, ret := range []string{`"text"`, `{ status: 200, body: "forged" }`, `Object.create(Response.prototype)`, `null`} {
			v := newVM(t, `export default { fetch() { return `+ret+` } }`, h, Options{})
			_, err := handle(v, 2*time.Second)
			var se *ScriptError
			if !errors.As(err, &se) || !strings.Contains(se.Message, "instead of a Response") {
				t.Errorf("%s: err = %v", ret, err)
			}
		}
	})
	t.Run("timer and host-call flood", func(t *testing.T) {
		got, err := run(t, h, Options{}, `let n = 0; try { for (let i = 0; i < 1000; i++) { setTimeout(() => {}, 1); n++ } } catch (e) { return new Response(n + ":" + e.message) } return new Response("all")`)
		if err != nil || !strings.HasPrefix(got, "64:more than 64") {
			t.Fatalf("%q %v", got, err)
		}
	})
	t.Run("runtime reusable after an app error", func(t *testing.T) {
		v := newVM(t, `let n = 0; export default { fetch() { if (++n === 1) throw new Error("first"); return new Response("second") } }`, h, Options{})
		if _, err := handle(v, time.Second); err == nil {
			t.Fatal("first request should fail")
		}
		res, err := handle(v, time.Second)
		if err != nil || string(res.Body) != "second" {
			t.Fatalf("%q %v", res.Body, err)
		}
	})
	t.Run("host panic marks runtime broken", func(t *testing.T) {
		ph := newHost()
		ph.sanitize = func(string, string) (string, error) { panic("boom in host") }
		v := newVM(t, `export default { fetch() { try { sanitizeHTML("x") } catch (e) { return new Response(e.message) } } }`, ph, Options{})
		res, err := handle(v, time.Second)
		if err != nil || string(res.Body) != "internal error in sanitize" || !v.Broken() {
			t.Fatalf("%q %v broken=%v", res.Body, err, v.Broken())
		}
	})
	t.Run("app start failure", func(t *testing.T) {
		r := build(t, `throw new Error("boot failed"); export default {}`)
		_, err := New(r.Program, h, Options{})
		if err == nil || !strings.Contains(err.Error(), "boot failed") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestGlobalsAreExactlyTheAPI fails when anything joins the global scope unnoticed.
func TestGlobalsAreExactlyTheAPI(t *testing.T) {
	got, err := run(t, newHost(), Options{}, `return new Response(Object.getOwnPropertyNames(globalThis).sort().join(" "))`)
	if err != nil {
		t.Fatal(err)
	}
	want := "AbortController AbortSignal AggregateError Array ArrayBuffer BigInt BigInt64Array BigUint64Array Boolean CryptoKey DataView Date Error EvalError " +
		"Float32Array Float64Array Function Headers Infinity Int16Array Int32Array Int8Array JSON Map Math NaN Number Object " +
		"Promise Proxy RangeError ReferenceError Reflect RegExp Request Response Set String Symbol SyntaxError TextDecoder " +
		"TextEncoder TypeError URIError URL URLSearchParams Uint16Array Uint32Array Uint8Array Uint8ClampedArray WeakMap WeakSet " +
		"__bulwark_app atob btoa clearTimeout console crypto decodeURI decodeURIComponent encodeURI encodeURIComponent escape " +
		"eval fetch globalThis isFinite isNaN parseFloat parseInt queueMicrotask sanitizeHTML setTimeout structuredClone undefined unescape"
	if got != want {
		t.Errorf("globals:\n got %s\nwant %s", got, want)
	}
}

func TestThrowInTimerCallbackIsLogged(t *testing.T) {
	h := newHost()
	got, err := run(t, h, Options{}, `setTimeout(() => { throw new RangeError("in timer") }, 1); await new Promise(r => setTimeout(r, 20)); return new Response("alive")`)
	if err != nil || got != "alive" || len(h.logs) != 1 || !strings.Contains(h.logs[0], "RangeError: in timer") {
		t.Fatalf("%q %v logs=%q", got, err, h.logs)
	}
}

func TestHostCallsAtModuleTopLevelRefused(t *testing.T) {
	h := newHost()
	v := newVM(t, `let err = "none"
		fetch("https://api.test/at-load").catch(e => { err = e.message })
		export default { async fetch() { return new Response(err) } }`, h, Options{})
	res, err := handle(v, 2*time.Second)
	if err != nil || !strings.Contains(string(res.Body), "only be used while handling a request") || len(h.fetches) != 0 {
		t.Fatalf("%q %v fetches=%d", res.Body, err, len(h.fetches))
	}
}

func TestUnhandledRejectionsLogged(t *testing.T) {
	h := newHost()
	got, err := run(t, h, Options{}, `Promise.reject(new TypeError("forgotten")); Promise.reject(1).catch(() => {}); return new Response("ok")`)
	if err != nil || got != "ok" || len(h.logs) != 1 || h.logs[0] != "error: unhandled promise rejection: TypeError: forgotten" {
		t.Fatalf("%q %v logs=%q", got, err, h.logs)
	}
	// The handler's own failure is the error, not also a log line.
	h2 := newHost()
	if _, err := run(t, h2, Options{}, `throw new Error("own")`); err == nil || len(h2.logs) != 0 {
		t.Fatalf("err=%v logs=%q", err, h2.logs)
	}
}
