package main

import (
	"context"
	"testing"
	"time"

	"bulwark/core/adminclient"
	"bulwark/core/event"
	"bulwark/ui/source"
)

// Against a real appliance: every page of a listing carries the appliance's count of the
// whole listing, so the events screen can say "3–4 of 5" on page two as on page one.
func testEventsTotal(t *testing.T, ctx context.Context, c *adminclient.Client, r *remote, data, public string) {
	attack(t, data, public, "/.git/HEAD", "/.git/config", "/.env", "/.git/HEAD", "/.env")
	// Each probe may be recorded by more than one defense: the truth is the listing itself,
	// read whole once the writer has stored all of it.
	var all source.EventPage
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		if all, err = r.Events(ctx, source.EventFilter{Kind: event.Probe, Limit: 1000}); err != nil {
			t.Fatal(err)
		}
		if len(all.Events) >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // let a second event per request land too
	all, err = r.Events(ctx, source.EventFilter{Kind: event.Probe, Limit: 1000})
	n := len(all.Events)
	if err != nil || n < 5 || all.Total != n || all.TotalCapped || all.More {
		t.Fatalf("whole listing: %d events, total %d capped %v more %v, %v", n, all.Total, all.TotalCapped, all.More, err)
	}
	f := source.EventFilter{Kind: event.Probe, Limit: 2}
	pages := (n + 1) / 2
	for page := 0; page < pages; page++ {
		f.Offset = page * 2
		p, err := r.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		want := min(2, n-page*2)
		if p.Total != n || p.TotalCapped || len(p.Events) != want || p.More != (page < pages-1) {
			t.Fatalf("page %d of %d: total %d (want %d) capped %v, %d events, more %v", page+1, pages, p.Total, n, p.TotalCapped, len(p.Events), p.More)
		}
	}
	// Another filter is another count.
	var env int
	for _, e := range all.Events {
		if e.Path == "/.env" {
			env++
		}
	}
	p, err := r.Events(ctx, source.EventFilter{Kind: event.Probe, Text: "/.env", Limit: 1})
	if err != nil || env < 2 || p.Total != env || p.More != (env > 1) {
		t.Fatalf(".env probes: total %d (want %d) more %v, %v", p.Total, env, p.More, err)
	}
}
