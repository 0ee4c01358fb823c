package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// BenchmarkBuild50KB bundles a TypeScript app of about 50 KB across 11 modules (the size the
// deploy target names) and compares it with goja compiling the finished bundle alone.
func BenchmarkBuild50KB(b *testing.B) {
	d := b.TempDir()
	var imports, calls strings.Builder
	for m := 0; m < 11; m++ {
		var src strings.Builder
		for f := 0; f < 25; f++ {
			fmt.Fprintf(&src, "export function f%d_%d(x: number): number { const a = [x, %d, %d]; return a.reduce((s, v) => s + v * %d, 0) }\n", m, f, m, f, f+1)
			fmt.Fprintf(&src, "export const s%d_%d: string = %q\n", m, f, strings.Repeat("x", 20))
		}
		os.WriteFile(filepath.Join(d, fmt.Sprintf("m%d.ts", m)), []byte(src.String()), 0o644)
		fmt.Fprintf(&imports, "import * as m%d from './m%d'\n", m, m)
		fmt.Fprintf(&calls, "  n += Object.keys(m%d).length\n", m)
	}
	os.WriteFile(filepath.Join(d, "app.json"), []byte(`{"name":"big","entry":"index.ts"}`), 0o644)
	os.WriteFile(filepath.Join(d, "index.ts"), []byte(imports.String()+"export default { async fetch() { let n = 0\n"+calls.String()+"  return n } }\n"), 0o644)

	r, err := BuildDir(d, Options{})
	if err != nil {
		b.Fatal(err)
	}
	const baseN = 20
	start := time.Now()
	for i := 0; i < baseN; i++ {
		if _, err := goja.Compile("app.js", r.JS, true); err != nil {
			b.Fatal(err)
		}
	}
	base := float64(time.Since(start).Nanoseconds()) / baseN
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := BuildDir(d, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/1e6, "ms/build")
	b.ReportMetric(base/1e6, "ms/goja-compile-only")
	b.ReportMetric(per/base, "x-compile-only")
	b.ReportMetric(float64(r.Size)/1024, "KiB-bundle")
}
