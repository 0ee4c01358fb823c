package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorePathAndDefaults(t *testing.T) {
	s := Default().Store
	if s.File != "bulwark.db" || s.BatchSize != 1000 || s.FlushInterval.D().Milliseconds() != 200 {
		t.Fatalf("defaults %+v", s)
	}
	if got := s.Path("/var/lib/bulwark"); got != filepath.Join("/var/lib/bulwark", "bulwark.db") {
		t.Fatalf("Path = %q", got)
	}
	s.File = "/srv/events.db"
	if got := s.Path("/var/lib/bulwark"); got != "/srv/events.db" {
		t.Fatalf("absolute Path = %q", got)
	}
}

func TestStoreRejectsBadValues(t *testing.T) {
	for _, c := range []struct{ toml, field string }{
		{"[store]\nfile = \"\"\n", "store.file"},
		{"[store]\nfile = \"dir/\"\n", "store.file"},
		{"[store]\nqueue_size = 0\n", "store.queue_size"},
		{"[store]\nqueue_size = 20000000\n", "store.queue_size"},
		{"[store]\nbatch_size = 0\n", "store.batch_size"},
		{"[store]\nflush_interval = \"0s\"\n", "store.flush_interval"},
		{"[store]\nretention = \"30m\"\n", "store.retention"},
	} {
		c2 := Default()
		if err := Decode([]byte(c.toml), &c2); err != nil {
			t.Fatalf("%q: %v", c.toml, err)
		}
		err := c2.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%q: got %v, want an error on %s", c.toml, err, c.field)
		}
	}
	c := Default()
	err := Decode([]byte("[store]\nbatch_sise = 5\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "store.batch_sise") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a misspelt key gave %v", err)
	}
}
