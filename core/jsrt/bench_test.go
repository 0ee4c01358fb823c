package jsrt

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/dop251/goja"

	"bulwark/core/stagebench"
)

const helloApp = `export default { async fetch(request) { return new Response("hello") } }`

// BenchmarkRuntimeCreate measures building a runtime (API installed, app loaded) from one
// compiled program, and the heap each live runtime holds.
func BenchmarkRuntimeCreate(b *testing.B) {
	r := build(b, helloApp)
	h := newHost()
	const keep = 50
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	live := make([]*VM, 0, keep)
	for i := 0; i < keep; i++ {
		v, err := New(r.Program, h, Options{})
		if err != nil {
			b.Fatal(err)
		}
		live = append(live, v)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kib := float64(after.HeapAlloc-before.HeapAlloc) / keep / 1024
	runtime.KeepAlive(live)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := New(r.Program, h, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.StopTimer()
	// Baseline: a bare goja runtime running the same program, no API installed.
	const baseN = 200
	start = time.Now()
	for i := 0; i < baseN; i++ {
		rt := goja.New()
		rt.Set("Response", func() {})
		if _, err := rt.RunProgram(r.Program); err != nil {
			b.Fatal(err)
		}
	}
	base := float64(time.Since(start).Nanoseconds()) / baseN
	b.ReportMetric(per/1e6, "ms/runtime")
	b.ReportMetric(kib, "KiB/runtime")
	b.ReportMetric(base/1e6, "ms/bare-goja")
	b.ReportMetric(per/base, "x-bare-goja")
}

// BenchmarkHandleHello compares a hello-world fetch handler through the API (Request built,
// handler awaited, Response copied out) with a plain goja call of a JS function returning a
// string, measured in the same run.
func BenchmarkHandleHello(b *testing.B) {
	v := newVM(b, helloApp, newHost(), Options{})
	rt := goja.New()
	fnv, err := rt.RunString(`(function (x) { return "hello" })`)
	if err != nil {
		b.Fatal(err)
	}
	fn, _ := goja.AssertFunction(fnv)
	arg := rt.ToValue("x")
	const baseN = 200000
	start := time.Now()
	for i := 0; i < baseN; i++ {
		if _, err := fn(goja.Undefined(), arg); err != nil {
			b.Fatal(err)
		}
	}
	base := float64(time.Since(start).Nanoseconds()) / baseN

	ctx := context.Background()
	req := Request{Method: "GET", URL: "https://a.test/", Header: http.Header{"Accept": {"*/*"}}}
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		res, err := v.Handle(ctx, req)
		if err != nil || res.Status != 200 {
			b.Fatal(err)
		}
	}
	per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/1000, "µs/request")
	b.ReportMetric(base, "ns/baseline-call")
	b.ReportMetric(per/base, "x-baseline")
}

// helloURLApp is the handler of core/apps' hello test app (the HTTPS benchmark's app): it
// parses the URL and sets a header, as most real handlers do.
const helloURLApp = `export default { async fetch(request) {
  const url = new URL(request.url);
  if (url.pathname === "/loop") { for (;;) {} }
  if (url.pathname === "/oom") { let s = "x"; for (;;) s += s; }
  return new Response("v1 " + url.pathname, { headers: { "x-version": "v1" } });
} }`

// BenchmarkHandleHelloURL is BenchmarkHandleHello for helloURLApp, with the header pairs the
// router passes (Flat), and allocations reported.
func BenchmarkHandleHelloURL(b *testing.B) {
	v := newVM(b, helloURLApp, newHost(), Options{})
	ctx := context.Background()
	req := Request{Method: "GET", URL: "https://hello.test/", Flat: []string{"user-agent", "Go-http-client/1.1", "accept-encoding", "gzip"}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := stagebench.ProcessCPU()
	for i := 0; i < b.N; i++ {
		res, err := v.Handle(ctx, req)
		if err != nil || res.Status != 200 {
			b.Fatal(err)
		}
		if err := v.Drain(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// CPU rather than wall time: on a shared machine it is the figure that holds still, and it
	// includes the collector's work on other threads.
	b.ReportMetric(float64(stagebench.ProcessCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/req")
}

// BenchmarkHandleShapes splits a hello-world request's cost by what the handler does: the
// fixed cost of a request (a handler returning a Response built at start-up), building a
// Response, an async handler (a promise goja settles), parsing the URL and setting a header.
// Each reports CPU per request; the first is the baseline of the others.
func BenchmarkHandleShapes(b *testing.B) {
	cases := []struct{ name, src string }{
		{"fixed", `const r = new Response("x"); export default { fetch(request) { return r } }`},
		{"sync-response", `export default { fetch(request) { return new Response("x") } }`},
		{"async-response", `export default { async fetch(request) { return new Response("x") } }`},
		{"async-url", `export default { async fetch(request) { const u = new URL(request.url); return new Response("x" + u.pathname) } }`},
		{"async-header", `export default { async fetch(request) { return new Response("x", { headers: { "x-version": "v1" } }) } }`},
		{"hello-app", helloURLApp},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			v := newVM(b, c.src, newHost(), Options{})
			ctx := context.Background()
			req := Request{Method: "GET", URL: "https://hello.test/", Flat: []string{"user-agent", "Go-http-client/1.1", "accept-encoding", "gzip"}}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := stagebench.ProcessCPU()
			for i := 0; i < b.N; i++ {
				if _, err := v.Handle(ctx, req); err != nil {
					b.Fatal(err)
				}
				if err := v.Drain(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stagebench.ProcessCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/req")
		})
	}
}
