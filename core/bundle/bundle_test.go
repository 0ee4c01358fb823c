package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func app(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	if _, ok := files["app.json"]; !ok {
		files["app.json"] = `{"name":"t","entry":"index.js"}`
	}
	write(t, d, files)
	return d
}

// call runs the bundle in a bare goja runtime and awaits default.fetch(arg).
func call(t *testing.T, r *Result, arg string) string {
	t.Helper()
	rt := goja.New()
	if _, err := rt.RunProgram(r.Program); err != nil {
		t.Fatal(err)
	}
	rt.Set("arg", arg)
	v, err := rt.RunString(`var out; ` + GlobalName + `.default.fetch(arg).then(v => out = String(v), e => out = "rejected: " + e); out`)
	if err != nil {
		t.Fatal(err)
	}
	_ = v
	return rt.Get("out").String()
}

func wantMsg(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestTypeScriptAsyncGeneratorsLowered(t *testing.T) {
	d := app(t, map[string]string{
		"app.json": `{"name":"t","entry":"src/index.ts"}`,
		"src/index.ts": `import { twice } from "./lib";
interface Req { url: string }
async function* gen(n: number) { for (let i = 0; i < n; i++) { await null; yield i } }
export default {
  async fetch(r: string): Promise<string> {
    let s = 0
    for await (const v of gen(4)) s += v
    const bad: number = "type error, not checked" as any as number
    return twice(r) + ":" + s
  },
  async scheduled() {},
}`,
		"src/lib.ts": `export const twice = (s: string): string => s + s`,
	})
	r, err := BuildDir(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.JS, "async function*") || strings.Contains(r.JS, "for await") {
		t.Error("async generators / for await were not lowered")
	}
	if got := call(t, r, "ab"); got != "abab:6" {
		t.Errorf("fetch = %q", got)
	}
	if len(r.Hash) != 64 || r.Size != len(r.JS) || r.Manifest.Name != "t" {
		t.Errorf("metadata: %q %d", r.Hash, r.Size)
	}
	found := false
	for _, w := range r.Warnings {
		found = found || strings.Contains(w, "without type checking")
	}
	if !found {
		t.Errorf("no type-check warning in %q", r.Warnings)
	}
}

func TestTypeErrorStillDeploys(t *testing.T) {
	d := app(t, map[string]string{
		"app.json": `{"name":"t","entry":"index.ts"}`,
		"index.ts": `const n: number = "not a number"; export default { async fetch() { return n } }`,
	})
	r, err := BuildDir(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := call(t, r, ""); got != "not a number" {
		t.Errorf("fetch = %q", got)
	}
}

func TestNodeBuiltinsRefusedWithFileAndLine(t *testing.T) {
	d := app(t, map[string]string{
		"index.js":                          "import lib from 'badpkg'\nexport default { fetch() { return lib } }\n",
		"node_modules/badpkg/package.json":  `{"name":"badpkg","main":"index.js"}`,
		"node_modules/badpkg/index.js":      "// reads a file\n\nconst fs = require('fs')\nmodule.exports = fs.readFileSync('/etc/passwd', 'utf8')\n",
		"node_modules/other/package.json":   `{"name":"other","main":"main.js"}`,
		"node_modules/other/main.js":        "import 'node:child_process'\n",
		"node_modules/events/package.json":  `{"name":"events","main":"events.js"}`,
		"node_modules/events/events.js":     "module.exports = 'polyfill'\n",
		"node_modules/uses-ev/package.json": `{"name":"uses-ev","main":"i.js"}`,
		"node_modules/uses-ev/i.js":         "module.exports = require('events')\n",
	})
	_, err := BuildDir(d, Options{})
	wantMsg(t, err, `node_modules/badpkg/index.js:3:`, `Node built-in "fs"`)
	var be *Error
	if !errors.As(err, &be) || be.Messages[0].File != "node_modules/badpkg/index.js" || be.Messages[0].Line != 3 {
		t.Errorf("messages = %+v", be)
	}
	for name, src := range map[string]string{
		"node:":         "import 'other'\nexport default {fetch(){}}",
		"net":           "import {connect} from 'net'\nexport default {fetch(){ return connect }}",
		"fs/promises":   "const f = require('fs/promises')\nexport default {fetch(){ return f }}",
		"child_process": "export default { async fetch(){ return import('child_process') } }",
	} {
		d := app(t, map[string]string{"index.js": src, "node_modules/other/package.json": `{"name":"other","main":"main.js"}`, "node_modules/other/main.js": "import 'node:child_process'\n"})
		_, err := BuildDir(d, Options{})
		wantMsg(t, err, "Node built-in", name)
	}
	// An npm polyfill that shares a built-in's name is a real package and bundles fine.
	d = app(t, map[string]string{
		"index.js":                          "import ev from 'uses-ev'\nexport default { async fetch(){ return ev } }",
		"node_modules/events/package.json":  `{"name":"events","main":"events.js"}`,
		"node_modules/events/events.js":     "module.exports = 'polyfill'\n",
		"node_modules/uses-ev/package.json": `{"name":"uses-ev","main":"i.js"}`,
		"node_modules/uses-ev/i.js":         "module.exports = require('events')\n",
	})
	r, err := BuildDir(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := call(t, r, ""); got != "polyfill" {
		t.Errorf("polyfill = %q", got)
	}
}

func TestBadInputs(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		opts  Options
		want  []string
	}{
		{"top-level await", map[string]string{"index.js": "import './a.js'\nexport default {}", "a.js": "\n\nawait Promise.resolve(1)\n"}, Options{}, []string{"a.js:3:", "top-level await"}},
		{"syntax error", map[string]string{"index.js": "export default {\n  fetch() { return 1 +* 2 }\n}"}, Options{}, []string{"index.js:2:"}},
		{"missing entry", map[string]string{"app.json": `{"name":"t","entry":"main.js"}`, "index.js": ""}, Options{}, []string{"app.json", `"main.js" does not exist`}},
		{"bad manifest", map[string]string{"app.json": `{"name":"t","entry":"index.js","limit":{}}`, "index.js": ""}, Options{}, []string{"app.json:1:", `unknown field "limit"`}},
		{"no manifest", map[string]string{"app.json": "", "index.js": ""}, Options{}, []string{"invalid JSON"}},
		{"missing import", map[string]string{"index.js": "import x from './nope'\nexport default {x}"}, Options{}, []string{"index.js:1:", "./nope"}},
		{"oversized bundle", map[string]string{"index.js": "export default {s: '" + strings.Repeat("x", 5000) + "'}"}, Options{MaxBundleBytes: 1000}, []string{"bundle is", "limit is 1000"}},
		{"oversized file", map[string]string{"index.js": strings.Repeat("/", 3000)}, Options{MaxFileBytes: 1000}, []string{"index.js", "larger than 1000"}},
		{"too many files", map[string]string{"index.js": "", "a": "", "b": "", "c": ""}, Options{MaxFiles: 3}, []string{"more than 3 files"}},
		{"import outside folder", map[string]string{"index.js": "import s from '../secret.json'\nexport default {s}"}, Options{}, []string{"outside the app folder"}},
		{"unknown loader", map[string]string{"index.js": "import s from './x.bin'\nexport default {s}", "x.bin": "x"}, Options{}, []string{"x.bin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := app(t, c.files)
			os.WriteFile(filepath.Join(filepath.Dir(d), "secret.json"), []byte(`{"k":"host secret"}`), 0o600)
			_, err := BuildDir(d, c.opts)
			wantMsg(t, err, c.want...)
		})
	}
}

func TestGojaCompileError(t *testing.T) {
	// Valid for esbuild, refused by goja: the deploy must fail with goja's message.
	_, err := Compile("var x = /a/v;")
	wantMsg(t, err, "goja cannot compile")
	if _, err := Compile("var x = 1;"); err != nil {
		t.Fatal(err)
	}
}

func TestSymlinkOutsideFolderRefused(t *testing.T) {
	d := app(t, map[string]string{"index.js": "import s from './s.json'\nexport default {s}"})
	outside := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(outside, []byte(`{"k":1}`), 0o600)
	if err := os.Symlink(outside, filepath.Join(d, "s.json")); err != nil {
		t.Fatal(err)
	}
	_, err := BuildDir(d, Options{})
	wantMsg(t, err, "s.json", "outside the app folder")
	// A link inside the folder (as package managers make) is fine.
	os.Remove(filepath.Join(d, "s.json"))
	write(t, d, map[string]string{"real.json": `{"k":2}`})
	os.Symlink("real.json", filepath.Join(d, "s.json"))
	if _, err := BuildDir(d, Options{}); err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	name string
	body string
	kind byte // tar type flag
	link string
}

func tarGz(t *testing.T, entries []entry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.kind, Linkname: e.link}
		if e.kind == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func zipOf(t *testing.T, entries []entry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(0o644)
		if e.kind == tar.TypeSymlink {
			h.SetMode(os.ModeSymlink | 0o777)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	zw.Close()
	return buf.Bytes()
}

var goodApp = []entry{
	{name: "myapp/app.json", body: `{"name":"z","entry":"index.js"}`},
	{name: "myapp/index.js", body: `export default { async fetch(a) { return "zipped " + a } }`},
}

func TestArchives(t *testing.T) {
	for name, data := range map[string][]byte{"tar.gz": tarGz(t, goodApp), "zip": zipOf(t, goodApp)} {
		r, err := BuildArchive(data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := call(t, r, name); got != "zipped "+name {
			t.Errorf("%s: fetch = %q", name, got)
		}
	}
	// Build picks the archive up from a file too.
	p := filepath.Join(t.TempDir(), "app.zip")
	os.WriteFile(p, zipOf(t, goodApp), 0o600)
	if _, err := Build(p, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestHostileArchives(t *testing.T) {
	bomb := []entry{goodApp[0], goodApp[1], {name: "myapp/zeros", body: strings.Repeat("\x00", 4<<20)}}
	many := append([]entry{}, goodApp...)
	for i := 0; i < 50; i++ {
		many = append(many, entry{name: "myapp/f" + strings.Repeat("x", i), body: "x"})
	}
	cases := []struct {
		name    string
		entries []entry
		opts    Options
		want    string
	}{
		{"dot-dot", append(goodApp[:2:2], entry{name: "myapp/../../evil.js", body: "x"}), Options{}, "paths with .. are not allowed"},
		{"dot-dot backslash", append(goodApp[:2:2], entry{name: "..\\evil.js", body: "x"}), Options{}, "paths with .. are not allowed"},
		{"absolute", append(goodApp[:2:2], entry{name: "/tmp/evil.js", body: "x"}), Options{}, "absolute paths"},
		{"symlink", append(goodApp[:2:2], entry{name: "myapp/link", kind: tar.TypeSymlink, link: "/etc/passwd"}), Options{}, "symbolic links"},
		{"hardlink", append(goodApp[:2:2], entry{name: "myapp/hard", kind: tar.TypeLink, link: "/etc/passwd"}), Options{}, "hard links"},
		{"device", append(goodApp[:2:2], entry{name: "myapp/dev", kind: tar.TypeChar}), Options{}, "only regular files"},
		{"fifo", append(goodApp[:2:2], entry{name: "myapp/fifo", kind: tar.TypeFifo}), Options{}, "only regular files"},
		{"bomb total", bomb, Options{MaxTotalBytes: 1 << 20}, "unpacked size exceeds"},
		{"bomb file", bomb, Options{MaxFileBytes: 1 << 20}, "larger than"},
		{"too many", many, Options{MaxFiles: 10}, "more than 10 files"},
		{"duplicate", append(goodApp[:2:2], goodApp[1]), Options{}, "appears twice"},
	}
	for _, c := range cases {
		for _, format := range []string{"tar.gz", "zip"} {
			if format == "zip" && (c.entries[len(c.entries)-1].kind == tar.TypeLink || c.entries[len(c.entries)-1].kind == tar.TypeChar || c.entries[len(c.entries)-1].kind == tar.TypeFifo) {
				continue
			}
			t.Run(c.name+"/"+format, func(t *testing.T) {
				var data []byte
				if format == "zip" {
					data = zipOf(t, c.entries)
				} else {
					data = tarGz(t, c.entries)
				}
				parent := t.TempDir()
				dest := filepath.Join(parent, "a", "b")
				os.MkdirAll(dest, 0o755)
				err := Extract(data, dest, c.opts)
				wantMsg(t, err, c.want)
				var xe *ExtractError
				if !errors.As(err, &xe) {
					t.Errorf("error is %T, want *ExtractError", err)
				}
				for _, p := range []string{filepath.Join(parent, "evil.js"), filepath.Join(parent, "a", "evil.js"), "/tmp/evil.js"} {
					if _, err := os.Lstat(p); err == nil {
						t.Errorf("%s was written outside the destination", p)
					}
				}
			})
		}
	}
	wantMsg(t, Extract([]byte("not an archive"), t.TempDir(), Options{}), "not a .tar.gz or .zip")
	wantMsg(t, Extract(make([]byte, 2000), t.TempDir(), Options{MaxArchiveBytes: 1000}), "larger than 1000")
}

// TestMarkedFromNPM bundles the real marked package, installed from the npm registry.
func TestMarkedFromNPM(t *testing.T) {
	d := app(t, map[string]string{
		"package.json": `{"name":"md","private":true,"dependencies":{"marked":"18.2.1"}}`,
		"index.js":     "import { marked } from 'marked'\nexport default { async fetch(src) { return marked.parse(src) } }\n",
	})
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts")
	cmd.Dir = d
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	r, err := BuildDir(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := call(t, r, "# Title\n\nsome *emphasis* and `code`")
	want := "<h1>Title</h1>\n<p>some <em>emphasis</em> and <code>code</code></p>\n"
	if got != want {
		t.Errorf("marked output %q, want %q", got, want)
	}
}
