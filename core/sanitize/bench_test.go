package sanitize

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/sys/unix"
)

// jsxssMBps is js-xss 1.0.17's xss() on the same file, measured on this kind of machine
// (corpora README).
const jsxssMBps = 24.0

func benchInput(b testing.TB) []byte {
	if b == nil {
		b = &testing.T{}
	}
	in, err := os.ReadFile(filepath.Join(corpusDir(b), "sanitizer-bench", "jsxss_benchmark_file.html"))
	if err != nil {
		b.Fatal(err)
	}
	return in
}

// threadCPU is the CPU time of the calling OS thread. The machine is shared, so throughput
// is computed from CPU time (as the corpora README's reference figures are), not wall time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMBps runs f over in for about 300 ms of CPU on one locked thread and returns MB per
// CPU second. testing.Benchmark cannot be nested in a running benchmark (it waits for the
// benchmark lock), so baselines are timed this way.
func cpuMBps(in []byte, f func([]byte)) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f(in) // warm up
	n, start := 0, threadCPU()
	for threadCPU()-start < 300*time.Millisecond {
		f(in)
		n++
	}
	return float64(len(in)) * float64(n) / (threadCPU() - start).Seconds() / 1e6
}

// BenchmarkSanitizeDefault measures the default policy on js-xss's benchmark page, with
// bluemonday's UGC policy run beside it as the baseline and js-xss's published figure.
func BenchmarkSanitizeDefault(b *testing.B) {
	in := benchInput(b)
	set := NewSet()
	p, _ := set.Get("")
	ugc := bluemonday.UGCPolicy()
	ugcMB := cpuMBps(in, func(b []byte) { ugc.SanitizeBytes(b) })
	b.SetBytes(int64(len(in)))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	start := threadCPU()
	for i := 0; i < b.N; i++ {
		p.SanitizeBytes(in)
	}
	cpu := threadCPU() - start
	b.StopTimer()
	own := float64(len(in)) * float64(b.N) / cpu.Seconds() / 1e6
	b.ReportMetric(own, "cpu-MB/s")
	b.ReportMetric(ugcMB, "ugc-cpu-MB/s")
	b.ReportMetric(own/ugcMB, "x-ugc")
	b.ReportMetric(own/jsxssMBps, "x-jsxss")
}

// BenchmarkSanitizeEscapeMode is a policy that shows unknown tags as text (a pre-pass more).
func BenchmarkSanitizeEscapeMode(b *testing.B) {
	in := benchInput(b)
	w := DefaultWhitelist()
	w.UnknownTags = "escape"
	p, err := Compile("escape", w)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	start := threadCPU()
	for i := 0; i < b.N; i++ {
		p.SanitizeBytes(in)
	}
	cpu := threadCPU() - start
	b.StopTimer()
	own := float64(len(in)) * float64(b.N) / cpu.Seconds() / 1e6
	b.ReportMetric(own, "cpu-MB/s")
	b.ReportMetric(own/jsxssMBps, "x-jsxss")
}
