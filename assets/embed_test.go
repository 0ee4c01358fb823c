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

// Each page says its own title and message, and is rendered once: every call hands out the
// same bytes, so serving one costs no template run.
func TestErrorPagesFromTable(t *testing.T) {
	seen := map[string]int{}
	for _, e := range errorTexts {
		p := ErrorPage(e.Status)
		s := string(p)
		want := "<title>" + strconv.Itoa(e.Status) + " " + e.Title + "</title>"
		if !strings.Contains(s, want) || !strings.Contains(s, "<h1>"+e.Title+"</h1>") || !strings.Contains(s, "<p>"+string(e.Message)+"</p>") {
			t.Errorf("%d: page lacks its title or message:\n%s", e.Status, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("%d renders the same page as %d", e.Status, prev)
		}
		seen[s] = e.Status
		if q := ErrorPage(e.Status); &q[0] != &p[0] {
			t.Errorf("%d: page rendered again on each call", e.Status)
		}
	}
	if len(seen) != 6 {
		t.Errorf("%d pages, want 6", len(seen))
	}
}
