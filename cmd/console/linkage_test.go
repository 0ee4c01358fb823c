package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot walks up from the package folder to the folder holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// The daemon must build and run on a server without X or GL: it may not import Fyne or ui/,
// and its binary may not link libGL or libX11.
func TestApplianceLinksNoGLOrX(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	list := exec.Command(gobin, "list", "-deps", "./cmd/appliance")
	list.Dir = repoRoot(t)
	deps, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, deps)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, "fyne.io/") || d == "bulwark/ui" || strings.HasPrefix(d, "bulwark/ui/") ||
			strings.HasPrefix(d, "github.com/go-gl/") {
			t.Errorf("cmd/appliance depends on %s", d)
		}
	}
	bin, _ := build(t)
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not a dynamic executable") {
		t.Fatalf("ldd: %v\n%s", err, out)
	}
	for _, lib := range []string{"libGL", "libX11", "libXrandr", "libXcursor", "libXi", "libwayland", "libEGL"} {
		if strings.Contains(string(out), lib) {
			t.Errorf("bulwark links %s:\n%s", lib, out)
		}
	}
	// The console, built the same way, does link them: the check can see a GL binary.
	if testing.Short() {
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ldd", self).CombinedOutput(); !strings.Contains(string(out), "libGL") && !strings.Contains(string(out), "libX11") {
		t.Errorf("the console's own test binary shows no GL/X in ldd, so the check above proves nothing:\n%s", out)
	}
}
