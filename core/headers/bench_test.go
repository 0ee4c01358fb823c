package headers

import (
	"crypto/tls"
	"net/http"
	"testing"

	"bulwark/core/stagebench"
)

// BenchmarkHeaders reports what the headers stage adds to one response, against the same
// handler without it in the same run.
func BenchmarkHeaders(b *testing.B) {
	s, err := New(Config{Profile: Default, Routes: map[string]string{"/admin": Strict}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("ok")
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	req, _ := http.NewRequest("GET", "https://example.test/index.html", nil)
	req.TLS = &tls.ConnectionState{}
	stagebench.Compare(b, final, s.Middleware(final), req, 16, "headers", "resp")
}
