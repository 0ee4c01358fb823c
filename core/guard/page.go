package guard

import (
	"html"
	"net/http"
	"strconv"
)

// writePage answers with a small self-contained HTML page (no script, no external resources).
func writePage(w http.ResponseWriter, status int, title, msg string) {
	body := "<!doctype html><html lang=en><head><meta charset=utf-8><title>" + html.EscapeString(title) +
		"</title></head><body><h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(msg) +
		"</p></body></html>\n"
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}
