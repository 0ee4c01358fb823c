package jsrt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWebAPI(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"request", `return new Response([request.method, request.url, request.headers.get("content-type"), await request.text(), request.bodyUsed].join("|"))`,
			"POST|https://app.test/path?q=1|text/plain|hello body|true"},
		{"headers", `const h = new Headers([["A", "1"]]); h.append("a", "2"); h.append("Set-Cookie", "x=1"); h.append("set-cookie", "y=2"); h.set("B", " 3 ");
			let e; try { h.set("bad name", "x") } catch (x) { e = x.constructor.name }
			let e2; try { new Headers({X: "a\r\nSet-Cookie: evil=1"}) } catch (x) { e2 = x.constructor.name }
			return new Response([h.get("a"), h.get("b"), h.getSetCookie().join(";"), [...h.keys()].join(","), e, e2, h.has("A")].join("|"))`,
			"1, 2|3|x=1;y=2|a,b,set-cookie,set-cookie|TypeError|TypeError|true"},
		{"response statics", `const j = Response.json({a: 1}); const r = Response.redirect("https://x.test/y", 301);
			return new Response([j.headers.get("content-type"), await j.text(), r.status, r.headers.get("location"), new Response(null).ok].join("|"))`,
			`application/json|{"a":1}|301|https://x.test/y|true`},
		{"text codec", `const b = new TextEncoder().encode("héllo €"); const s = new TextDecoder().decode(b);
			let e; try { new TextDecoder("utf-8", {fatal: true}).decode(new Uint8Array([0xff])) } catch (x) { e = x.name }
			return new Response([b.length, s, new TextDecoder().decode(new Uint8Array([0xff])), e].join("|"))`,
			"10|héllo €|\uFFFD|TypeError"},
		{"base64", `let e; try { btoa("€") } catch (x) { e = x.name }
			return new Response([btoa("hi\u00ff"), atob("aGn/"), atob(" aGk= "), e].join("|"))`, "aGn/|hi\u00ff|hi|TypeError"},
		{"random", `const a = crypto.getRandomValues(new Uint8Array(32)); const u = crypto.randomUUID();
			let e; try { crypto.getRandomValues(new Uint8Array(70000)) } catch (x) { e = x.name }
			return new Response([a.some(x => x !== 0), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u), e].join("|"))`,
			"true|true|QuotaExceededError"},
		{"digest", `const hex = b => [...new Uint8Array(b)].map(x => x.toString(16).padStart(2, "0")).join("");
			const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc"));
			const d1 = await crypto.subtle.digest({name: "SHA-1"}, new TextEncoder().encode("abc"));
			return new Response(hex(d) + "|" + hex(d1))`,
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad|a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"hmac", `const enc = new TextEncoder(); const hex = b => [...new Uint8Array(b)].map(x => x.toString(16).padStart(2, "0")).join("");
			const key = await crypto.subtle.importKey("raw", enc.encode("Jefe"), {name: "HMAC", hash: "SHA-256"}, false, ["sign", "verify"]);
			const sig = await crypto.subtle.sign("HMAC", key, enc.encode("what do ya want for nothing?"));
			const ok = await crypto.subtle.verify("HMAC", key, sig, enc.encode("what do ya want for nothing?"));
			const bad = await crypto.subtle.verify("HMAC", key, sig, enc.encode("tampered"));
			let e; try { await crypto.subtle.exportKey("raw", key) } catch (x) { e = x.name }
			return new Response([hex(sig), ok, bad, key.algorithm.hash.name, key.type, e, Object.keys(key).length].join("|"))`,
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843|true|false|SHA-256|secret|InvalidAccessError|0"},
		{"url", `const u = new URL("/a/b?x=1&y=2#h", "https://Example.test:443"); u.searchParams.append("z", "3");
			return new Response([u.href, u.host, u.pathname, new URLSearchParams("a=1&a=2").getAll("a").join(",")].join("|"))`,
			"https://example.test/a/b?x=1&y=2&z=3#h|example.test|/a/b|1,2"},
		{"timers", `const order = []; setTimeout(() => order.push("t2"), 20); setTimeout(() => order.push("t1"), 5);
			const id = setTimeout(() => order.push("cleared"), 1); clearTimeout(id); queueMicrotask(() => order.push("m"));
			await new Promise(r => setTimeout(r, 40)); return new Response(order.join(","))`, "m,t1,t2"},
		{"env", `let e; try { env.MODE = "x" } catch (x) { e = x.name }
			return new Response([env.MODE, env.API_KEY, e, Object.isFrozen(env)].join("|"))`, "prod|s3cret|TypeError|true"},
		{"kv", `await env.KV.put("user:1", "alice"); await env.KV.put("user:2", JSON.stringify({n: 2})); await env.KV.put("other", new Uint8Array([1, 2]));
			const a = await env.KV.get("user:1"); const j = await env.KV.get("user:2", "json"); const b = await env.KV.get("other", "arrayBuffer");
			const l = await env.KV.list({prefix: "user:"}); await env.KV.delete("user:1"); const gone = await env.KV.get("user:1");
			let e; try { await env.KV.put("big", "x".repeat(2000)) } catch (x) { e = x.message }
			return new Response([a, j.n, b.byteLength, l.keys.map(k => k.name).join(","), l.list_complete, gone, e].join("|"))`,
			"alice|2|2|user:1,user:2|true||value too large"},
		{"fetch", `const r = await fetch("https://api.test/x", {method: "POST", body: "ping", headers: {"X-K": "v"}});
			return new Response([r.status, r.headers.get("content-type"), await r.text(), r.url].join("|"))`,
			"200|text/plain|pong https://api.test/x|https://api.test/x"},
		{"sanitize", `return new Response(sanitizeHTML("<p><script>x</p>") + "|" + typeof sanitizeHTML)`, "<p>x</p>|function"},
		{"security", `ctx.security.loginFailed("bob"); ctx.security.accountChanged("bob", "email"); return new Response("ok")`, "ok"},
		{"console", `console.log("a", 1, {b: [1, "c"]}, null); console.error(new TypeError("boom")); return new Response("ok")`, "ok"},
		{"structuredClone", `const src = { a: [1, { b: new Date(0) }], m: new Map([["k", new Set([1])]]), u: new Uint8Array([1, 2]) }; src.self = src;
			const c = structuredClone(src); let e; try { structuredClone({ f() {} }) } catch (x) { e = x.name }
			return new Response([c !== src, c.self === c, c.a[1].b.getTime(), c.m.get("k").has(1), c.u[1], c.u !== src.u, e].join("|"))`,
			"true|true|0|true|2|true|DataCloneError"},
		{"abort", `const ac = new AbortController(); const p = fetch("https://api.test/slow", { signal: ac.signal }); ac.abort();
			let e; try { await p } catch (x) { e = x.name }
			let e2; try { await fetch("https://api.test/", { signal: AbortSignal.abort() }) } catch (x) { e2 = x.name }
			let e3; try { new AbortSignal() } catch (x) { e3 = x.name }
			return new Response([e, e2, e3, ac.signal.aborted].join("|"))`, "AbortError|AbortError|TypeError|true"},
		{"no ambient authority", `const g = globalThis; return new Response([typeof g.require, typeof g.process, typeof g.Deno, typeof g.module, typeof g.global, typeof g.setInterval, typeof g.Buffer].join(","))`,
			"undefined,undefined,undefined,undefined,undefined,undefined,undefined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost()
			got, err := run(t, h, Options{Env: map[string]string{"MODE": "prod"}, Secrets: []string{"API_KEY"}, KV: true}, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			switch c.name {
			case "security":
				if len(h.signals) != 2 || h.signals[0] != (SecuritySignal{Kind: SignalLoginFailed, User: "bob"}) || h.signals[1].Field != "email" {
					t.Errorf("signals = %+v", h.signals)
				}
			case "console":
				if len(h.logs) != 2 || h.logs[0] != `log: a 1 { b: [ 1, "c" ] } null` || !strings.HasPrefix(h.logs[1], "error: TypeError: boom") {
					t.Errorf("logs = %q", h.logs)
				}
			case "fetch":
				f := h.fetches[0]
				if f.Method != "POST" || string(f.Body) != "ping" || f.Header.Get("X-K") != "v" || f.Redirect != "follow" {
					t.Errorf("fetch request = %+v", f)
				}
			}
		})
	}
}

func TestFetchErrorRejects(t *testing.T) {
	h := newHost()
	h.fetchFn = func(FetchRequest) (FetchResponse, error) {
		return FetchResponse{}, errors.New("egress denied: host not in permissions.fetch")
	}
	got, err := run(t, h, Options{}, `try { await fetch("https://evil.test/") } catch (e) { return new Response(e.constructor.name + ": " + e.message) }`)
	if err != nil || got != "Error: egress denied: host not in permissions.fetch" {
		t.Fatalf("%q %v", got, err)
	}
	// No KV permission: env.KV is absent and the host refuses anyway.
	got, err = run(t, h, Options{}, `return new Response(String(env.KV))`)
	if err != nil || got != "undefined" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestWaitUntilAndDrain(t *testing.T) {
	h := newHost()
	v := newVM(t, `export default { async fetch(req, env, ctx) {
		ctx.waitUntil((async () => { await new Promise(r => setTimeout(r, 30)); await env.KV.put("late", "done") })())
		return new Response("early")
	} }`, h, Options{KV: true})
	res := get(t, v, "https://a.test/")
	if string(res.Body) != "early" {
		t.Fatal(string(res.Body))
	}
	if _, ok := h.kv["late"]; ok {
		t.Fatal("waitUntil work finished before the response")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := v.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if string(h.kv["late"]) != "done" {
		t.Fatal("waitUntil work did not run on Drain")
	}
}

func TestScheduled(t *testing.T) {
	h := newHost()
	v := newVM(t, `export default {
		async fetch() { return new Response("x") },
		async scheduled(ev, env, ctx) { await env.KV.put("ran", ev.cron + "@" + ev.scheduledTime + ":" + ev.type) },
	}`, h, Options{KV: true})
	at := time.UnixMilli(1700000000000)
	if err := v.Scheduled(context.Background(), ScheduledEvent{Cron: "*/5 * * * *", Time: at}); err != nil {
		t.Fatal(err)
	}
	if got := string(h.kv["ran"]); got != "*/5 * * * *@1700000000000:scheduled" {
		t.Fatal(got)
	}
	v2 := newVM(t, `export default { fetch() {} }`, h, Options{})
	err := v2.Scheduled(context.Background(), ScheduledEvent{Cron: "* * * * *"})
	var se *ScriptError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "no scheduled") {
		t.Fatalf("err = %v", err)
	}
}

func TestLargeBodies(t *testing.T) {
	h := newHost()
	v := newVM(t, `export default { async fetch(req) { const b = new Uint8Array(await req.arrayBuffer()); return new Response("x".repeat(b.length * 2)) } }`, h, Options{MaxBodyBytes: 1000})
	res, err := v.Handle(context.Background(), Request{Method: "POST", URL: "https://a.test/", Body: make([]byte, 100), Header: http.Header{}})
	if err != nil || len(res.Body) != 200 {
		t.Fatalf("%d %v", len(res.Body), err)
	}
	if _, err := v.Handle(context.Background(), Request{Method: "POST", URL: "https://a.test/", Body: make([]byte, 600)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestGETWithBodyFromClient(t *testing.T) {
	v := newVM(t, `export default { async fetch(req) { return new Response(req.method + ":" + (await req.text()).length) } }`, newHost(), Options{})
	res, err := v.Handle(context.Background(), Request{Method: "GET", URL: "https://a.test/", Body: []byte("ignored")})
	if err != nil || string(res.Body) != "GET:0" {
		t.Fatalf("%q %v", res.Body, err)
	}
}
