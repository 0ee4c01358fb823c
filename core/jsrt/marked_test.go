package jsrt

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"bulwark/core/bundle"
)

// TestMarkedThroughRuntime installs the real marked package from npm, bundles an app that
// uses it and serves a request through the runtime.
func TestMarkedThroughRuntime(t *testing.T) {
	d := t.TempDir()
	files := map[string]string{
		"app.json":     `{"name":"md","entry":"index.ts"}`,
		"package.json": `{"name":"md","private":true,"dependencies":{"marked":"18.2.1"}}`,
		"index.ts": `import { marked } from "marked"
export default {
  async fetch(request: Request): Promise<Response> {
    const html = await marked.parse(await request.text(), { async: true })
    return new Response(sanitizeHTML(html), { headers: { "content-type": "text/html" } })
  },
}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts")
	cmd.Dir = d
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	r, err := bundle.BuildDir(d, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(r.Program, newHost(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := v.Handle(ctx, Request{Method: "POST", URL: "https://md.test/", Header: http.Header{}, Body: []byte("# Hi\n\n*x* <script>alert(1)</script>")})
	if err != nil {
		t.Fatal(err)
	}
	want := "<h1>Hi</h1>\n<p><em>x</em> alert(1)</script></p>\n"
	if string(res.Body) != want || res.Header.Get("Content-Type") != "text/html" {
		t.Errorf("body %q, want %q", res.Body, want)
	}
}
