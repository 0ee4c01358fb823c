package sanitize

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/microcosm-cc/bluemonday"
)

// jsxssMBps is js-xss 1.0.17's xss() on the same file, measured on this kind of machine
// (corpora README).
const jsxssMBps = 24.0

func benchInput(b *testing.B) []byte {
	in, err := os.ReadFile(filepath.Join(corpusDir(b), "sanitizer-bench", "jsxss_benchmark_file.html"))
	if err != nil {
		b.Fatal(err)
	}
	return in
}

func mbps(r testing.BenchmarkResult, n int) float64 {
	return float64(n) * float64(r.N) / r.T.Seconds() / 1e6
}

// BenchmarkSanitizeDefault measures the default policy on js-xss's benchmark page, with
// bluemonday's UGC policy run beside it as the baseline and js-xss's published figure.
func BenchmarkSanitizeDefault(b *testing.B) {
	in := benchInput(b)
	set := NewSet()
	p, _ := set.Get("")
	ugc := bluemonday.UGCPolicy()
	base := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ugc.SanitizeBytes(in)
		}
	})
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SanitizeBytes(in)
	}
	b.StopTimer()
	own := float64(len(in)) * float64(b.N) / b.Elapsed().Seconds() / 1e6
	ugcMB := mbps(base, len(in))
	b.ReportMetric(ugcMB, "ugc-MB/s")
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SanitizeBytes(in)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(in))*float64(b.N)/b.Elapsed().Seconds()/1e6/jsxssMBps, "x-jsxss")
}
