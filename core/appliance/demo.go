package appliance

import (
	"io/fs"
	"net/http"
	"strconv"

	"bulwark/assets"
	"bulwark/core/server"
)

// demo serves the built-in page at / until the sandbox router mounts apps.
type demo struct{ files map[string]demoFile }

type demoFile struct {
	body  []byte
	ctype string
}

func newDemo() http.Handler {
	fsys := assets.Demo()
	read := func(name string) []byte {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic(err) // embedded at build time
		}
		return b
	}
	return demo{files: map[string]demoFile{
		"/":           {read("index.html"), "text/html; charset=utf-8"},
		"/index.html": {read("index.html"), "text/html; charset=utf-8"},
		"/demo.css":   {read("demo.css"), "text/css; charset=utf-8"},
	}}
}

func (d demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := d.files[r.URL.Path]
	if !ok {
		server.Error(w, r, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		server.Error(w, r, http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(f.body)
	}
}
