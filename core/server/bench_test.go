package server

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"bulwark/core/stagebench"
)

// BenchmarkStages reports what the server's own stages (request record, JSON access log,
// body cap) add to one request in process, against the bare handler in the same run.
func BenchmarkStages(b *testing.B) {
	body := []byte("ok")
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	staged := RequestInfo(AccessLog(log)(BodyLimit(1 << 20)(final)))
	req, _ := http.NewRequest("GET", "https://example.test/index.html", nil)
	req.RemoteAddr = "192.0.2.1:4321"
	stagebench.Compare(b, final, staged, req, 4, "staged", "req")
}
