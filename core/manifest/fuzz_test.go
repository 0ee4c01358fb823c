package manifest

import (
	"testing"
	"time"
)

// FuzzParse: no input panics, and an accepted manifest always has its required fields and
// limits within the ceilings.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(`{"name":"a","entry":"a.js","routes":[[[[]]]]}`))
	f.Add([]byte(`{"env":{"A":{"secret":null}},"schedules":[{"cron":"*/0 * * * *"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			_ = err.Error()
			return
		}
		c := Ceilings()
		if m.Name == "" || m.Entry == "" || m.Limits.CPUMs <= 0 || m.Limits.CPUMs > c.CPUMs || m.Limits.MemoryMB > c.MemoryMB {
			t.Fatalf("accepted an invalid manifest: %+v", m)
		}
	})
}

func FuzzCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/15 1-5 * JAN-mar 1,3,5", "@daily", "0 0 29 2 *", "1-60/7 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCron(s)
		if err != nil {
			return
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		next := c.Next(from)
		if next.IsZero() || !next.After(from) || !c.Matches(next) {
			t.Fatalf("%q: Next(%v) = %v", s, from, next)
		}
	})
}
