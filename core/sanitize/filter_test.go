package sanitize

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFilterSanitizesHTMLResponsesOnly(t *testing.T) {
	p, _ := NewSet().Get("")
	mux := http.NewServeMux()
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", "999")
		for i := 0; i < 3; i++ {
			io.WriteString(w, `<p>hi<img src=x onerror=alert(1)></p><scr`)
			io.WriteString(w, `ipt>alert(2)</script>`)
		}
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"x":"<script>"}`)
	})
	srv := httptest.NewTLSServer(Filter(p)(mux))
	defer srv.Close()
	get := func(path string) string {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(b)
	}
	if got := get("/html"); got != strings.Repeat(`<p>hi<img src="x"></p>`, 3) {
		t.Errorf("html: %q", got)
	}
	if got := get("/json"); got != `{"x":"<script>"}` {
		t.Errorf("json changed: %q", got)
	}
}
