package adminapi

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestParseEventFilter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := ParseEventFilter(url.Values{"since": {"15m"}, "until": {"2026-01-02T03:00:00Z"}, "kind": {"xss,sqli"}, "severity": {"high"}, "limit": {"10"}, "cursor": {"abc"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Since.Equal(now.Add(-15*time.Minute)) || f.Until.Hour() != 3 || f.Kind != "xss,sqli" || f.Limit != 10 || f.Cursor != "abc" {
		t.Fatalf("%+v", f)
	}
	if f, _ := ParseEventFilter(url.Values{}, now); f.Limit != 100 {
		t.Fatalf("default limit %d", f.Limit)
	}
	back, err := ParseEventFilter(f.Values(), now)
	if err != nil || back.Limit != f.Limit {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for q, field := range map[string]string{
		"since=yesterday": "since", "severity=extreme": "severity", "action=nuked": "action",
		"limit=0": "limit", "limit=5000": "limit", "colour=red": "colour", "kind=xss,": "kind",
	} {
		v, _ := url.ParseQuery(q)
		_, err := ParseEventFilter(v, now)
		var ae *Error
		if !errors.As(err, &ae) || ae.Field != field || ae.Status != 400 {
			t.Errorf("%s: want a 400 naming %s, got %v", q, field, err)
		}
	}
}
