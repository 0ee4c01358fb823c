package waf

import (
	"sync"
	"testing"

	"bulwark/core/config"
)

// Every WAF stage built with the same engine settings shares one compiled engine, so the
// second appliance in a process does not pay the compilation again; different settings
// get their own engine, and bad settings are still refused.
func TestSharedEngine(t *testing.T) {
	c := config.Default().WAF
	var ws [4]*WAF
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := New(c, nil, nil)
			if err != nil {
				t.Error(err)
				return
			}
			ws[i] = w
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range ws {
		if ws[i].Engine() != ws[0].Engine() {
			t.Fatal("two stages with the same settings compiled separate engines")
		}
	}
	c0 := cpuTime()
	if _, err := New(c, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("a further WAF stage with the same settings cost %v of CPU", cpuTime()-c0)

	s := DefaultSettings()
	s.InboundThreshold = 7
	e7, err := SharedEngine(s)
	if err != nil {
		t.Fatal(err)
	}
	if e7 == ws[0].Engine() || e7.Settings().InboundThreshold != 7 {
		t.Fatal("different settings must get their own engine")
	}
	s.Paranoia = 9
	if _, err := SharedEngine(s); err == nil {
		t.Fatal("paranoia 9 accepted")
	}
}
