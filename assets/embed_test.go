package assets

import (
	"io/fs"
	"strconv"
	"strings"
	"testing"
)

// Every refusal page exists, names its status and carries no script (pages must render
// under the strict header profile, which forbids inline code).
func TestErrorPages(t *testing.T) {
	for _, code := range []int{403, 404, 429, 502, 503, 504} {
		p := string(ErrorPage(code))
		if !strings.HasPrefix(p, "<!doctype html>") || !strings.Contains(p, "<title>") || strings.Contains(strings.ToLower(p), "<script") {
			t.Errorf("%d: page %.80q", code, p)
		}
		if !strings.Contains(p, strconv.Itoa(code)) {
			t.Errorf("%d: page does not show its status", code)
		}
	}
	if p := string(ErrorPage(418)); !strings.Contains(p, "418 I'm a teapot") {
		t.Errorf("generic page: %q", p)
	}
}

func TestDemoFiles(t *testing.T) {
	for _, name := range []string{"index.html", "demo.css"} {
		b, err := fs.ReadFile(Demo(), name)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}
