package waf

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
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

// BenchmarkResidualRuleCost is the table behind residual.go: for each rule the residual
// evaluation removes from the benign GET and POST, the CPU time Coraza spends on it (a
// Coraza engine holding only that rule's head, against an empty engine, medians of
// interleaved rounds); the sum is reported next to the evaluation's own cost.
func BenchmarkResidualRuleCost(b *testing.B) {
	e, err := NewEngine(DefaultSettings())
	if err != nil {
		b.Fatal(err)
	}
	byID := map[int]*residRule{}
	for i := range e.gate.resid.rules {
		byID[e.gate.resid.rules[i].id] = &e.gate.resid.rules[i]
	}
	one := func(rule string) *Engine {
		d := "SecRuleEngine DetectionOnly\nSecRequestBodyAccess On\nSecRequestBodyLimit 131072\n" + rule
		w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(d))
		if err != nil {
			b.Fatal(err)
		}
		return &Engine{waf: w, set: DefaultSettings()}
	}
	for _, req := range []*Request{benignGET(), benignPOST()} {
		b.Run(req.Method, func(b *testing.B) {
			pre := e.gate.removableProofs(req, true)
			pre = append(pre, e.gate.absentRemovable(req)...)
			for i := range e.gate.native {
				if e.gate.native[i].refutedBy(req) {
					pre = append(pre, e.gate.native[i].id)
				}
			}
			ids := e.gate.resid.refuted(req, pre, nil)
			engines := []*Engine{one("")}
			for _, id := range ids {
				engines = append(engines, one(headOnly(byID[id])))
			}
			const calls = 10
			res := make([][]float64, len(engines))
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < b.N; i++ {
				for _, k := range rng.Perm(len(engines)) {
					c0 := cpuTime()
					for j := 0; j < calls; j++ {
						engines[k].Inspect(req, nil)
					}
					res[k] = append(res[k], float64(cpuTime()-c0)/1e3/calls)
				}
			}
			med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
			base := med(res[0])
			var rows []string
			sum := 0.0
			for k, id := range ids {
				d := med(res[k+1]) - base
				sum += d
				rows = append(rows, fmt.Sprintf("%d %.1f", id, d))
			}
			b.Logf("%s: Coraza CPU µs per rule the residual evaluation removes (empty engine %.1f µs): %s", req.Method, base, strings.Join(rows, ", "))
			b.ReportMetric(sum, "removed-coraza-cpu-µs/op")
		})
	}
}
