package bundle

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCleanEntry: an accepted archive name always stays inside the destination folder.
func FuzzCleanEntry(f *testing.F) {
	for _, s := range []string{"a/b.js", "../x", "a/../../x", "/etc/passwd", "C:\\x", "a\\..\\..\\x", "./a/./b", "a//b", "..", "a/.."} {
		f.Add(s)
	}
	dest := "/tmp/dest"
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := cleanEntry(name)
		if err != nil || rel == "" {
			return
		}
		p := filepath.Join(dest, rel)
		if !strings.HasPrefix(p, dest+"/") {
			t.Fatalf("%q maps to %q, outside %s", name, p, dest)
		}
	})
}
