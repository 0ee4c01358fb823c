// Package assets holds the files the appliance ships inside its binary: the error pages every
// defense answers with, and the demo page served at / until an app is deployed. They are
// plain HTML without scripts, so they render under the strictest header profile.
package assets

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
)

// errorTemplate is the one layout of every refusal page; errorTexts fills it per status.
//
//go:embed errors/page.html
var errorTemplate string

// errorText is what one refusal page says. Message is fixed text written here (never request
// data), so it is trusted as HTML and its apostrophes stay as they are.
type errorText struct {
	Status  int
	Title   string
	Message template.HTML
}

var errorTexts = []errorText{
	{403, "Forbidden", "This request was refused. If you believe this is a mistake, contact the site's operator and quote the time of your visit."},
	{404, "Not found", "There is nothing at this address."},
	{429, "Too many requests", "You are sending requests faster than this site allows. Wait a moment and try again."},
	{502, "Bad gateway", "The application behind this site did not give a valid answer. Try again in a moment."},
	{503, "Service unavailable", "This site cannot answer right now. Try again in a moment."},
	{504, "Gateway timeout", "The application behind this site took too long to answer. Try again in a moment."},
}

// errorPages holds every page of errorTexts rendered once at start, so answering with one
// is a byte copy. It is never written after init.
var errorPages = renderErrorPages()

func renderErrorPages() map[int][]byte {
	t := template.Must(template.New("error").Parse(errorTemplate))
	pages := make(map[int][]byte, len(errorTexts))
	for _, e := range errorTexts {
		var b bytes.Buffer
		if err := t.Execute(&b, e); err != nil {
			panic(fmt.Sprintf("error page %d: %v", e.Status, err)) // the template and texts are fixed at build time
		}
		pages[e.Status] = b.Bytes()
	}
	return pages
}

//go:embed demo
var demoFS embed.FS

// ErrorPage returns the HTML page for status (403, 404, 429, 502, 503 and 504 have their
// own), or a generic page naming the status. The returned slice is shared: callers must not modify it.
func ErrorPage(status int) []byte {
	if b, ok := errorPages[status]; ok {
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
