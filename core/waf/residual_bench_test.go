package waf

import (
	"slices"
	"testing"
)

// BenchmarkResidual measures what the residual evaluation (residual.go) saves: Inspect on
// the fast engine as it runs and on the same settings without the residual evaluation,
// in interleaved rounds of the same run, CPU µs per request (medians of the rounds), and
// the evaluation's own cost per request.
func BenchmarkResidual(b *testing.B) {
	with, err := NewEngine(DefaultSettings())
	if err != nil {
		b.Fatal(err)
	}
	without, err := NewEngine(DefaultSettings())
	if err != nil {
		b.Fatal(err)
	}
	without.gate.resid = nil
	for _, req := range []*Request{benignGET(), benignPOST()} {
		b.Run(req.Method, func(b *testing.B) {
			const calls = 10
			med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
			var on, off, own []float64
			pre := with.gate.removableProofs(req, true)
			pre = append(pre, with.gate.absentRemovable(req)...)
			for i := range with.gate.native {
				if with.gate.native[i].refutedBy(req) {
					pre = append(pre, with.gate.native[i].id) // as removableOpt passes them
				}
			}
			with.Inspect(req, nil)
			without.Inspect(req, nil)
			for i := 0; i < b.N; i++ {
				c0 := cpuTime()
				for k := 0; k < calls; k++ {
					with.Inspect(req, nil)
				}
				c1 := cpuTime()
				for k := 0; k < calls; k++ {
					without.Inspect(req, nil)
				}
				c2 := cpuTime()
				for k := 0; k < calls; k++ {
					with.gate.resid.refuted(req, pre, nil)
				}
				c3 := cpuTime()
				on = append(on, float64(c1-c0)/1e3/calls)
				off = append(off, float64(c2-c1)/1e3/calls)
				own = append(own, float64(c3-c2)/1e3/calls)
			}
			b.ReportMetric(med(on), "with-cpu-µs/op")
			b.ReportMetric(med(off), "without-cpu-µs/op")
			b.ReportMetric(med(own), "residual-cpu-µs/op")
			b.ReportMetric(float64(len(with.gate.resid.refuted(req, pre, nil))), "refuted-rules")
		})
	}
}
