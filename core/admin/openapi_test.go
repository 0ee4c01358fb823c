package admin

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"bulwark/core/adminapi"
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

// TestOpenAPIEventPage: the events response schema lists exactly the JSON fields of
// adminapi.EventPage (total and total_capped included), and GET /events refers to it.
func TestOpenAPIEventPage(t *testing.T) {
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &spec); err != nil {
		t.Fatal(err)
	}
	if ref := spec.Paths["/api/v1/events"]["get"].Responses["200"].Content["application/json"].Schema.Ref; ref != "#/components/schemas/EventPage" {
		t.Fatalf("GET /api/v1/events 200 refers to %q", ref)
	}
	var described []string
	for k := range spec.Components.Schemas["EventPage"].Properties {
		described = append(described, k)
	}
	var fields []string
	rt := reflect.TypeOf(adminapi.EventPage{})
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	sort.Strings(described)
	sort.Strings(fields)
	if !reflect.DeepEqual(described, fields) {
		t.Fatalf("openapi.json EventPage has %v, adminapi.EventPage has %v", described, fields)
	}
}
