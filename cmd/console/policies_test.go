package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminclient"
	"bulwark/ui/source"
)

// Against a real `bulwark serve`: every policy editor of the console writes a document the
// appliance accepts, and reading back shows the change; the allow and deny lists are
// writable.
func TestPolicyEditorsAgainstRealAppliance(t *testing.T) {
	bulwark, _ := build(t)
	data, _ := serve(t, bulwark)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := adminclient.Open(filepath.Join(data, "admin.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := newRemote(c)

	p, err := r.Policies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Notes) != 0 || len(p.HTML.Tags) < 10 || !slices.Contains(p.HTML.Schemes, "https") || p.WAF.Mode != "block" || p.HeadersProfile != "default" {
		t.Fatalf("policies as served: %+v", p)
	}
	p.HTML.Tags = append(p.HTML.Tags, source.TagRule{Tag: "details"})
	p.HTML.Schemes = []string{"https"}
	if err := r.SetHTMLPolicy(ctx, p.HTML); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHTMLPolicy(ctx, source.HTMLPolicy{Tags: []source.TagRule{{Tag: "script"}}}); err == nil {
		t.Fatal("the appliance accepted <script> in the whitelist")
	}
	if err := r.SetWAF(ctx, source.WAFSettings{Mode: "detect", Paranoia: 2}); err != nil {
		t.Fatal(err)
	}
	x := source.WAFExclusion{Rule: "942100", Path: "/search", App: "shop"}
	if err := r.AddWAFExclusion(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHeadersProfile(ctx, "strict"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetEgress(ctx, "shop", []string{"api.example.com"}); err != nil {
		t.Fatal(err)
	}
	p, err = r.Policies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var details bool
	for _, tr := range p.HTML.Tags {
		details = details || tr.Tag == "details"
	}
	if !details || strings.Join(p.HTML.Schemes, ",") != "https" || p.WAF != (source.WAFSettings{Mode: "detect", Paranoia: 2}) ||
		len(p.Exclusions) != 1 || p.Exclusions[0] != x || p.HeadersProfile != "strict" {
		t.Fatalf("policies after editing: %+v", p)
	}
	// The default policy's other keys (value rules) survived the console's edit.
	raw, err := c.Policy(ctx, "html")
	if err != nil || !strings.Contains(string(raw), `"th.scope"`) {
		t.Fatalf("value rules lost: %s %v", raw, err)
	}
	if err := r.RemoveWAFExclusion(ctx, x); err != nil {
		t.Fatal(err)
	}
	if p, _ = r.Policies(ctx); len(p.Exclusions) != 0 {
		t.Fatalf("last exclusion not removed: %+v", p.Exclusions)
	}
	if raw, _ := c.Policy(ctx, "egress"); !json.Valid(raw) || !strings.Contains(string(raw), `"shop":["api.example.com"]`) {
		t.Fatalf("egress: %s", raw)
	}

	if err := r.AddAccess(ctx, source.Denylist, "198.51.100.0/24", "scanners"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddAccess(ctx, source.Denylist, "not-a-network", ""); err == nil || !strings.Contains(err.Error(), "cidr") {
		t.Fatalf("invalid CIDR: %v", err)
	}
	acc, err := r.Access(ctx)
	if err != nil || len(acc.Deny) != 1 || acc.Deny[0].CIDR != "198.51.100.0/24" || acc.Deny[0].Note != "scanners" {
		t.Fatalf("access: %+v %v", acc, err)
	}
	if err := r.RemoveAccess(ctx, source.Denylist, "198.51.100.0/24"); err != nil {
		t.Fatal(err)
	}
}
