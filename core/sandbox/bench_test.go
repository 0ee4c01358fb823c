package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"bulwark/core/jsrt"
	"bulwark/core/sandbox"
	"bulwark/core/sandbox/sandboxtest"
	"bulwark/core/stagebench"
)

const helloBody = `return new Response('hello world')`

func percentile(d []time.Duration, q float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(q*float64(len(d)-1))]
}

// BenchmarkDispatch measures a warm request supervisor → worker → VM → back, and reports the
// same handler called directly in an in-process goja runtime as the baseline.
func BenchmarkDispatch(b *testing.B) {
	s := start(b, handler(helloBody), sandbox.Limits{MemoryMB: 64, Concurrency: 4}, sandbox.Options{})
	req := &sandbox.Request{ID: "bench", Method: "GET", URL: "https://app.test/", Header: []string{"accept", "*/*"}, Host: "app.test", Path: "/"}
	ctx := context.Background()
	for i := 0; i < 200; i++ { // warm up
		s.Do(ctx, req)
	}
	lat := make([]time.Duration, 0, b.N)
	pids := s.Pids()
	w0, s0, wc0, sc0 := workersCPU(pids), stagebench.ProcessCPU(), ctxSwitches(pids), ctxSwitches([]int{os.Getpid()})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r, err := s.Do(ctx, req)
		lat = append(lat, time.Since(t0))
		if err != nil || r.Status != 200 {
			b.Fatalf("%v", err)
		}
	}
	b.StopTimer()
	perReq(b, pids, w0, s0, wc0, sc0)
	p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)

	// Baseline: the same app on core/jsrt in this process, no process boundary: the
	// difference is what the supervisor → worker → back trip costs.
	prog, err := goja.Compile("app.js", handler(helloBody), true)
	if err != nil {
		b.Fatal(err)
	}
	js, err := jsrt.New(prog, nopHost{}, jsrt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	base := make([]time.Duration, 0, 10000)
	jreq := jsrt.Request{ID: "bench", Method: "GET", URL: "https://app.test/", Header: http.Header{"Accept": {"*/*"}}}
	for i := 0; i < 10000; i++ {
		t0 := time.Now()
		if _, err := js.Handle(ctx, jreq); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
	}
	bp50 := percentile(base, 0.5)
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(bp50.Nanoseconds())/1000, "inprocess-jsrt-p50-µs")
	b.ReportMetric(float64(p50-bp50)/float64(time.Microsecond), "overhead-p50-µs")
	b.ReportMetric(float64(p50)/float64(max(bp50, time.Nanosecond)), "ratio")
}

// BenchmarkDispatchParallel is the same with concurrent callers (worker concurrency 16).
func BenchmarkDispatchParallel(b *testing.B) {
	s := start(b, handler(helloBody), sandbox.Limits{MemoryMB: 64, Concurrency: 16, Workers: 2}, sandbox.Options{})
	req := &sandbox.Request{ID: "bench", Method: "GET", URL: "https://app.test/", Host: "app.test", Path: "/"}
	pids := s.Pids()
	w0, s0, wc0, sc0 := workersCPU(pids), stagebench.ProcessCPU(), ctxSwitches(pids), ctxSwitches([]int{os.Getpid()})
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Do(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	perReq(b, pids, w0, s0, wc0, sc0)
}

// perReq reports CPU and thread context switches per request on each side: what the machine
// pays, whatever else runs on it. A context switch is a thread going to sleep and being woken,
// the cost that dominates a dispatch on a loaded machine.
func perReq(b *testing.B, pids []int, w0, s0 time.Duration, wc0, sc0 int64) {
	n := float64(b.N)
	b.ReportMetric(float64(workersCPU(pids)-w0)/float64(time.Microsecond)/n, "worker-cpu-µs/req")
	b.ReportMetric(float64(stagebench.ProcessCPU()-s0)/float64(time.Microsecond)/n, "supervisor-cpu-µs/req")
	b.ReportMetric(float64(ctxSwitches(pids)-wc0)/n, "worker-ctxsw/req")
	b.ReportMetric(float64(ctxSwitches([]int{os.Getpid()})-sc0)/n, "supervisor-ctxsw/req")
}

// ctxSwitches sums the voluntary and involuntary context switches of every thread of pids.
func ctxSwitches(pids []int) int64 {
	var total int64
	for _, p := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", p, t.Name()))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					total += n
				} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					total += n
				}
			}
		}
	}
	return total
}

// workersCPU sums user+system time of processes from /proc (clock ticks of 10 ms).
func workersCPU(pids []int) time.Duration {
	var total time.Duration
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// BenchmarkColdStart measures a new version from nothing to its first answer, with a 50 KB
// bundle; the target is 1 s.
func BenchmarkColdStart(b *testing.B) {
	var pad strings.Builder
	for pad.Len() < 50<<10 {
		fmt.Fprintf(&pad, "function f%d(x) { return x * %d + 'padding to make a realistic bundle size'; }\n", pad.Len(), pad.Len())
	}
	src := pad.String() + handler(helloBody)
	exe, args := sandboxtest.Worker(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		s, err := sandbox.Start(sandbox.Options{Exe: exe, Args: args}, sandbox.Spec{App: "cold", Version: int64(i + 1), Program: src,
			Limits: sandbox.Limits{MemoryMB: 64, Concurrency: 4}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Do(context.Background(), &sandbox.Request{ID: "c", Method: "GET", URL: "https://a/", Host: "a", Path: "/"}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	ms := float64(total.Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "cold-start-ms")
	b.ReportMetric(ms/1000, "ratio-to-1s-target")
}

// BenchmarkWarmRuntimeMemory reports the Go heap one warm runtime holds (64 runtimes built in
// a worker, measured there between GCs), against the heap of one bare goja runtime in this
// process as the baseline.
func BenchmarkWarmRuntimeMemory(b *testing.B) {
	var per int64
	for i := 0; i < b.N; i++ {
		s := start(b, handler(helloBody), sandbox.Limits{MemoryMB: 256, Concurrency: 64}, sandbox.Options{})
		per = s.Stats().HeapPerRuntime
		s.Close()
	}
	b.ReportMetric(float64(per)/1024, "KiB/runtime")
}

// nopHost refuses every capability: the benchmark app uses none.
type nopHost struct{}

func (nopHost) Fetch(context.Context, jsrt.FetchRequest) (jsrt.FetchResponse, error) {
	return jsrt.FetchResponse{}, errNop
}
func (nopHost) KVGet(context.Context, string) ([]byte, bool, error) { return nil, false, errNop }
func (nopHost) KVPut(context.Context, string, []byte) error         { return errNop }
func (nopHost) KVDelete(context.Context, string) error              { return errNop }
func (nopHost) KVList(context.Context, string, string, int) (jsrt.KVPage, error) {
	return jsrt.KVPage{}, errNop
}
func (nopHost) Secret(context.Context, string) (string, error)           { return "", errNop }
func (nopHost) Sanitize(context.Context, string, string) (string, error) { return "", errNop }
func (nopHost) Security(context.Context, jsrt.SecuritySignal) error      { return errNop }
func (nopHost) Log(context.Context, string, string)                      {}

var errNop = errors.New("not available in the benchmark")
