package apps_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"bulwark/core/apps"
	"bulwark/core/kv"
)

// TestKVQuota fills an app's namespace through real workers and the SQLite store: the quota
// stops it with a clear error and what was stored stays readable.
func TestKVQuota(t *testing.T) {
	var store *kv.Store
	e := newEnvWith(t, apps.Capabilities{}, func(c *apps.Config) {
		store = kv.New(c.DB, kv.Options{})
		c.Caps.KV = apps.KVStore(store)
	})
	if _, err := e.m.Deploy(context.Background(), "testdata/kvquota"); err != nil {
		t.Fatal(err)
	}
	code, body := e.get("kv.test", "/fill")
	var fill struct {
		Stored  int
		Refused string
	}
	if code != 200 || json.Unmarshal([]byte(body), &fill) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if fill.Stored == 0 || fill.Stored >= 10 || !strings.Contains(strings.ToLower(fill.Refused), "quota") {
		t.Fatalf("4 KiB quota with 500-byte values: stored %d, refusal %q", fill.Stored, fill.Refused)
	}
	code, body = e.get("kv.test", "/list")
	if code != 200 || !strings.Contains(body, `"first":true`) {
		t.Fatalf("after quota: %d %s", code, body)
	}
	t.Logf("stored %d values, then: %s", fill.Stored, fill.Refused)
}
