// Package assets holds the files the appliance ships inside its binary: the error pages every
// defense answers with, and the demo page served at / until an app is deployed. They are
// plain HTML without scripts, so they render under the strictest header profile.
package assets

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

//go:embed errors/*.html
var errorFS embed.FS

//go:embed demo
var demoFS embed.FS

// ErrorPage returns the HTML page for status (403, 404, 429, 502, 503 and 504 have their
// own), or a generic page naming the status. The returned slice is shared: callers must not modify it.
func ErrorPage(status int) []byte {
	if b, err := errorFS.ReadFile(fmt.Sprintf("errors/%d.html", status)); err == nil {
		return b
	}
	return []byte(fmt.Sprintf("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d %s</title></head>"+
		"<body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status), status, http.StatusText(status)))
}

// Demo is the built-in demo site (index.html and its stylesheet).
func Demo() fs.FS {
	sub, err := fs.Sub(demoFS, "demo")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
