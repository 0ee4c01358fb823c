package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bulwark/core/event"
	"bulwark/core/sandbox"
)

// hostileCase is one attack. The app's fetch runs body; the case passes if the request ends in
// one of the allowed outcomes (OK means "contained": the app answered and check accepts the
// body), the appliance process is still here, and the good app kept answering.
type hostileCase struct {
	name  string
	body  string
	allow []sandbox.Outcome
	check func(t *testing.T, body string) // for OK outcomes
}

const (
	OK        = sandbox.OK
	CPU       = sandbox.CPULimit
	Wall      = sandbox.WallLimit
	Mem       = sandbox.MemoryLimit
	Stack     = sandbox.StackLimit
	Exc       = sandbox.Exception
	TooLarge  = sandbox.TooLarge
	Crash     = sandbox.Crash
	Overloads = sandbox.Overloaded
)

func bodyIs(want string) func(*testing.T, string) {
	return func(t *testing.T, got string) {
		t.Helper()
		if got != want {
			t.Errorf("contained answer %q, want %q", got, want)
		}
	}
}

var hostileCases = []hostileCase{
	// CPU
	{"cpu/infinite-loop", `for(;;){}`, []sandbox.Outcome{CPU}, nil},
	{"cpu/loop-swallowing-exceptions", `for(;;){ try { for(;;){} } catch(e){} finally { continue } }`, []sandbox.Outcome{CPU}, nil},
	{"cpu/microtask-starvation", `const f = () => Promise.resolve().then(f); f(); return new Response('x')`, []sandbox.Outcome{CPU}, nil},
	{"cpu/await-spin", `for(;;) await null;`, []sandbox.Outcome{CPU}, nil},
	{"cpu/comparator", `const a = Array.from({length: 2e4}, (_, i) => 2e4 - i); a.sort((x, y) => { for (let i = 0; i < 1e5; i++); return x - y }); return new Response('sorted')`, []sandbox.Outcome{CPU}, nil},
	{"cpu/array-fill-native", `Array(2e8).fill(0); return new Response('filled')`, []sandbox.Outcome{Mem, CPU, Exc}, nil},
	{"cpu/deep-json-stringify", `let o = {}; for (let i = 0; i < 2e5; i++) o = {a: o}; return new Response(JSON.stringify(o).length + '')`, []sandbox.Outcome{Stack, Mem, CPU, Exc}, nil},
	{"cpu/eval-loop", `eval('for(;;){}')`, []sandbox.Outcome{CPU}, nil},
	{"cpu/function-constructor-loop", `new Function('for(;;){}')()`, []sandbox.Outcome{CPU}, nil},
	{"cpu/generator-spin", `function* g(){ for(;;) yield 1 } for (const x of g()) {}`, []sandbox.Outcome{CPU}, nil},
	{"cpu/species-constructor-loop", `class X extends Array { static get [Symbol.species]() { return function(){ for(;;){} } } } new X(1, 2, 3).map(x => x)`, []sandbox.Outcome{CPU}, nil},
	// regular expressions (regexp2 backtracking: bounded per match, then by the CPU budget)
	{"regex/nested-quantifier-lookahead", `return new Response(String(/^(a+)+(?=b)$/.test('a'.repeat(40) + '!')))`, []sandbox.Outcome{OK, CPU}, bodyIs("false")},
	{"regex/backreference-blowup", `return new Response(String(/^(a|aa)+\1$/.test('a'.repeat(45) + 'b')))`, []sandbox.Outcome{OK, CPU}, bodyIs("false")},
	{"regex/repeated-matches", `for (let i = 0; i < 1e6; i++) /^(\w+\s?)*(?=x)$/.test('an evil string of words that never ends!'); return new Response('done')`, []sandbox.Outcome{CPU}, nil},
	{"regex/replace-huge", `return new Response(String(('a'.repeat(5e4) + '!').replace(/(a+)+(?=b)/g, 'x').length))`, []sandbox.Outcome{OK, CPU}, nil},
	// memory
	{"mem/string-doubling", `let s = 'x'; for(;;) s += s;`, []sandbox.Outcome{Mem, Exc, CPU}, nil},
	{"mem/repeat", `return new Response(String('x'.repeat(2 ** 30).length))`, []sandbox.Outcome{Mem, Exc, CPU}, nil},
	{"mem/typed-array-huge", `return new Response(String(new Uint8Array(2 ** 31).length))`, []sandbox.Outcome{Mem, Exc, CPU}, nil},
	{"mem/typed-arrays-many", `const a = []; for(;;) a.push(new Float64Array(1e6));`, []sandbox.Outcome{Mem, CPU}, nil},
	{"mem/array-growth", `const a = []; for(;;) a.push({n: a.length, s: 'payload' + a.length});`, []sandbox.Outcome{Mem, CPU}, nil},
	{"mem/map-growth", `const m = new Map(); for (let i = 0;; i++) m.set('k' + i, [i, i, i]);`, []sandbox.Outcome{Mem, CPU}, nil},
	{"mem/object-keys", `const o = {}; for (let i = 0;; i++) o['key' + i] = 'v'.repeat(64);`, []sandbox.Outcome{Mem, CPU}, nil},
	{"mem/deep-json-parse", `return new Response(String(JSON.parse('['.repeat(1e6) + ']'.repeat(1e6)).length))`, []sandbox.Outcome{Stack, Mem, Exc, CPU}, nil},
	{"mem/array-join", `return new Response(String(new Array(1e9).join('xy').length))`, []sandbox.Outcome{Mem, Exc, CPU}, nil},
	{"mem/fromcharcode-apply", `return new Response(String.fromCharCode.apply(null, new Array(1e8).fill(65)).length + '')`, []sandbox.Outcome{Mem, Exc, Stack, CPU}, nil},
	{"mem/response-too-large", `return new Response('x'.repeat(3e7))`, []sandbox.Outcome{TooLarge, Mem, CPU}, nil},
	// stack
	{"stack/recursion", `function f(n) { return f(n + 1) + 1 } f(0)`, []sandbox.Outcome{Stack}, nil},
	{"stack/recursion-catching", `function f() { try { return f() } catch (e) { return f() } } f()`, []sandbox.Outcome{Stack}, nil},
	{"stack/tostring-recursion", `const o = { toString() { return '' + o } }; return new Response('' + o)`, []sandbox.Outcome{Stack}, nil},
	{"stack/proxy-get-recursion", `const p = new Proxy({}, { get(t, k) { return p[k] } }); return new Response(String(p.x))`, []sandbox.Outcome{Stack}, nil},
	{"stack/getter-recursion", `const o = { get x() { return this.x } }; return new Response(String(o.x))`, []sandbox.Outcome{Stack}, nil},
	// escapes
	{"escape/function-constructor", `return new Response(Function('return typeof require + typeof process + typeof Deno + typeof __bulwark_install')())`, []sandbox.Outcome{OK}, bodyIs("undefinedundefinedundefinedundefined")},
	{"escape/host-function-constructor", `return new Response(console.log.constructor('return typeof require + typeof process')())`, []sandbox.Outcome{OK}, bodyIs("undefinedundefined")},
	{"escape/fetch-constructor-chain", `return new Response(String(fetch.constructor.constructor('return Object.keys(this).includes("require")')()))`, []sandbox.Outcome{OK}, bodyIs("false")},
	{"escape/host-function-new", `try { new console.log(); return new Response('constructed') } catch (e) { return new Response(e.name) }`, []sandbox.Outcome{OK}, bodyIs("TypeError")},
	{"escape/reflect-globals", `const names = Reflect.ownKeys(globalThis).filter(n => ['require', 'process', 'Deno', 'Bun', 'module', 'exports', 'Buffer', '__bulwark_install'].includes(n) && globalThis[n] !== undefined); return new Response(names.join(',') || 'none')`, []sandbox.Outcome{OK}, bodyIs("none")},
	{"escape/reflect-host-function", `const k = Reflect.ownKeys(console.log).map(String).sort().join(','); return new Response(k)`, []sandbox.Outcome{OK}, bodyIs("length,name")},
	{"escape/forged-response", `return Object.create(Response.prototype)`, []sandbox.Outcome{Exc}, nil},
	{"escape/plain-object-response", `return { status: 200, body: 'forged', headers: {} }`, []sandbox.Outcome{Exc}, nil},
	{"escape/symbol-species-promise", `class P extends Promise { static get [Symbol.species]() { return function(){ for(;;){} } } } return P.resolve(1).then(x => new Response('x'))`, []sandbox.Outcome{CPU, Exc}, nil},
	{"escape/getter-trap-to-host", `return fetch('https://allowed.example/', { get method() { for(;;){} } })`, []sandbox.Outcome{CPU}, nil},
	{"escape/tostring-trap-to-host", `sanitizeHTML({ toString() { for(;;){} } }); return new Response('x')`, []sandbox.Outcome{CPU}, nil},
	{"escape/host-call-non-string", `try { console.log(Symbol('s'), {toJSON() { throw new Error('trap') }}); return new Response('logged') } catch (e) { return new Response('caught') }`, []sandbox.Outcome{OK}, nil},
	{"escape/throw-proxy", `throw new Proxy({}, { get() { throw new Error('trap') }, getPrototypeOf() { for(;;){} } })`, []sandbox.Outcome{Exc, CPU}, nil},
	{"escape/throw-symbol", `throw Symbol('odd')`, []sandbox.Outcome{Exc}, nil},
	{"escape/throw-looping-message", `const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for(;;){} } }); throw e`, []sandbox.Outcome{CPU, Exc}, nil},
	{"escape/throw-undefined", `throw undefined`, []sandbox.Outcome{Exc}, nil},
	{"escape/never-settles", `return new Promise(() => {})`, []sandbox.Outcome{Exc}, nil},
	{"escape/bad-status", `return new Response('', { status: 1000 })`, []sandbox.Outcome{Exc}, nil},
	// capabilities
	{"egress/subrequest-flood", `let n = 0; for (let i = 0; i < 1000; i++) { try { await fetch('https://allowed.example/' + i) } catch (e) { if (String(e).includes('subrequest limit')) return new Response('denied after ' + n); } n++ } return new Response('all ' + n)`, []sandbox.Outcome{OK}, bodyIs("denied after 4")},
	{"egress/unknown-capability", `try { await env.KV.get('k') } catch (e) { return new Response('denied') } return new Response('allowed')`, []sandbox.Outcome{OK}, bodyIs("denied")},
	{"logs/console-flood", `for (let i = 0; i < 1e5; i++) console.log('flood', i); return new Response('flooded')`, []sandbox.Outcome{OK, CPU}, nil},
	{"logs/huge-line", `console.log('x'.repeat(5e6)); return new Response('logged')`, []sandbox.Outcome{OK}, bodyIs("logged")},
	// last: these rewrite the app's own globals, which persist in its warm runtimes
	{"escape/prototype-pollution-object", `Object.prototype.status = 599; Object.prototype[0] = 418; Array.prototype.push = () => { throw 1 }; return new Response('ok')`, []sandbox.Outcome{OK, Exc}, bodyIs("ok")},
	{"escape/prototype-pollution-response", `Object.defineProperty(Response.prototype, 'status', { get() { return 302 } }); Response.unwrap = () => [200, [], 'forged']; Headers.flat = () => ['set-cookie', 'x']; return new Response('real')`, []sandbox.Outcome{OK, Exc}, bodyIs("real")},
}

// floodHost answers fetch with a fixed response and refuses everything else; it counts calls
// so the test can see the subrequest cap held on the host side too.
type floodHost struct{ fetches atomic.Int64 }

func (h *floodHost) Call(c sandbox.Call) ([]byte, error) {
	if c.Op == "fetch" {
		h.fetches.Add(1)
		return []byte(`{"status":200,"headers":[],"body":"ok"}`), nil
	}
	return nil, errors.New(c.Op + ": not granted to this app")
}

func hostileProgram() string {
	var b strings.Builder
	b.WriteString("const path = new URL(request.url).pathname.slice(1);\nswitch (path) {\n")
	for i, c := range hostileCases {
		fmt.Fprintf(&b, "case %q: {\n%s\n}\n", strconv.Itoa(i), c.body)
	}
	b.WriteString("}\nreturn new Response('no case', {status: 404});")
	return handler(b.String())
}

// TestHostileSuite runs every attack against one hostile app while a well-behaved app on the
// same supervisor process keeps answering; it prints the good app's p99 during the attack.
func TestHostileSuite(t *testing.T) {
	if len(hostileCases) < 45 {
		t.Fatalf("only %d hostile cases", len(hostileCases))
	}
	events := &recorder{}
	logs := &logRecorder{}
	host := &floodHost{}
	bad := start(t, hostileProgram(), sandbox.Limits{MemoryMB: 64, CPU: 50 * time.Millisecond, Wall: 2 * time.Second,
		Workers: 2, Concurrency: 2, Subrequests: 4, LogLinesPerMinute: 600, LogLineBytes: 1024, StackDepth: 500},
		sandbox.Options{Events: events, Logs: logs, Host: host, RestartBackoff: 10 * time.Millisecond, RestartBackoffMax: 100 * time.Millisecond})
	good := start(t, handler(`return new Response('fine')`), sandbox.Limits{MemoryMB: 64, Workers: 1, Concurrency: 4}, sandbox.Options{})

	// The well-behaved app answers throughout.
	stop := make(chan struct{})
	var lat []time.Duration
	var goodErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			r, err := get(good, "/")
			if err != nil || string(r.Body) != "fine" {
				goodErr.Store(fmt.Sprintf("good app failed during the attack: %v", err))
				return
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(2 * time.Millisecond)
		}
	}()

	t0 := time.Now()
	for i, c := range hostileCases {
		// A case may have killed a worker: wait until both are back so every case meets a
		// running app (bounded: restarts take a few hundred ms at most).
		for deadline := time.Now().Add(10 * time.Second); len(bad.Pids()) < 2 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		t.Run(c.name, func(t *testing.T) {
			ct := time.Now()
			r, err := get(bad, "/"+strconv.Itoa(i))
			got := sandbox.OK
			var se *sandbox.Error
			if err != nil {
				if !errors.As(err, &se) {
					t.Fatalf("not a sandbox outcome: %v", err)
				}
				got = se.Outcome
			}
			ok := false
			for _, a := range c.allow {
				ok = ok || a == got
			}
			if !ok {
				t.Fatalf("ended as %v (%v), want one of %v", got, err, c.allow)
			}
			if got == sandbox.OK && c.check != nil {
				c.check(t, string(r.Body))
			}
			t.Logf("%-38s → %-9v %6s  %v", c.name, got, time.Since(ct).Round(time.Millisecond), errText(err))
		})
	}
	attack := time.Since(t0)
	close(stop)
	wg.Wait()
	if e := goodErr.Load(); e != nil {
		t.Fatal(e)
	}
	if len(lat) == 0 {
		t.Fatal("good app never answered")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("hostile suite: %d cases in %s; good app %d requests during the attack, p50 %s p99 %s max %s",
		len(hostileCases), attack.Round(time.Millisecond), len(lat), p(0.5), p(0.99), lat[len(lat)-1])
	fmt.Fprintf(os.Stderr, "hostile suite: good app p99 during attack %s (p50 %s, n=%d)\n", p(0.99), p(0.5), len(lat))

	// Every limit hit became an event naming the app, the request and the figure.
	kinds := events.kinds()
	for _, k := range []event.Kind{event.SandboxCPU, event.SandboxMemory} {
		if kinds[k] == 0 {
			t.Errorf("no %s event (events: %v)", k, kinds)
		}
	}
	for _, e := range events.all() {
		if e.App != "test" || !strings.Contains(string(e.Detail), "request_id") {
			t.Errorf("event without app or request id: %+v", e)
		}
	}
	if n := host.fetches.Load(); n > 4 {
		t.Errorf("host saw %d fetches; the cap is 4", n)
	}
	if n := logs.count(); n > 200 {
		t.Errorf("console flood kept %d lines; the rate limit allows about 100", n)
	}
	for _, l := range logs.lines {
		if len(l) > 1200 {
			t.Errorf("console line of %d bytes kept; cap is 1024", len(l))
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var _ = context.Background
