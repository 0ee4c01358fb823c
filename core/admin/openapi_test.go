package admin

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: every route of the router is described, and every described
// operation exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, nil)
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("not OpenAPI 3: %q", spec.OpenAPI)
	}
	described := map[string]bool{}
	for p, ops := range spec.Paths {
		for m := range ops {
			described[strings.ToUpper(m)+" "+p] = true
		}
	}
	routed := map[string]bool{}
	for _, r := range h.srv.Routes() {
		routed[r] = true
		if !described[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	var extra []string
	for d := range described {
		if !routed[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(extra)
	for _, d := range extra {
		t.Errorf("openapi.json describes %s, which the router does not serve", d)
	}
	// And the document is served.
	var raw json.RawMessage
	if err := h.client(h.admin).Raw(ctx5(t), "GET", "/api/v1/openapi.json", ""); err != nil {
		t.Fatal(err)
	}
	_ = raw
}
