package csrf

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

// ModeOf: a skipped path passes a cross-site POST untouched, a report-only one passes it and
// logs a csrf event with action logged, and everything else is still refused.
func TestModeOfSkipReportEnforce(t *testing.T) {
	rec := &recorder{}
	p, err := New(Options{Sink: rec, ModeOf: func(r *http.Request) Mode {
		switch {
		case strings.HasPrefix(r.URL.Path, "/hook"):
			return Skip
		case strings.HasPrefix(r.URL.Path, "/report"):
			return Report
		}
		return Enforce
	}})
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := p.Check()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++; w.WriteHeader(204) }))
	for _, c := range []struct {
		path   string
		status int
		action event.Action
	}{{"/hook/github", 204, ""}, {"/report/x", 204, event.Logged}, {"/comment", 403, event.Blocked}} {
		r := httptest.NewRequest("POST", "https://shop.test"+c.path, strings.NewReader("a=b"))
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r, _ = verdict.New(r)
		before := len(rec.all())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.status {
			t.Errorf("%s: %d, want %d", c.path, w.Code, c.status)
		}
		evs := rec.all()[before:]
		if c.action == "" && len(evs) != 0 {
			t.Errorf("%s: events %+v, want none", c.path, evs)
		}
		if c.action != "" && (len(evs) != 1 || evs[0].Action != c.action || evs[0].Kind != event.CSRF) {
			t.Errorf("%s: events %+v, want one csrf %s", c.path, evs, c.action)
		}
	}
	if reached != 2 {
		t.Fatalf("handler reached %d times, want 2", reached)
	}
}
