package waf

import (
	"testing"
)

// benchGateRemovable measures the fast path's own proof code, gate.removable, on one
// request: CPU µs per call (getrusage, see cpuTime) and allocations. The plan for the
// request's alphabets is built before the timer starts, as a running engine has it cached.
func benchGateRemovable(b *testing.B, req *Request) {
	e, err := sharedEngine()
	if err != nil {
		b.Fatal(err)
	}
	want := len(e.gate.removable(req))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if n := len(e.gate.removable(req)); n != want {
			b.Fatalf("removable gave %d rules, then %d", want, n)
		}
	}
	cpu := cpuTime() - c0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(want), "rules-removed")
}

func BenchmarkGateRemovableGET(b *testing.B)  { benchGateRemovable(b, benignGET()) }
func BenchmarkGateRemovablePOST(b *testing.B) { benchGateRemovable(b, benignPOST()) }
