package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"bulwark/assets"
	"bulwark/core/verdict"
)

// RequestInfo attaches the per-request verdict record (request id, client IP, arrival time)
// and returns the id to the client as X-Request-Id, so a refused visitor can quote it.
func RequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, in := verdict.New(r)
		w.Header().Set("X-Request-Id", in.ID)
		next.ServeHTTP(w, r)
	})
}

// AccessLog writes one JSON line per request with the verdict fields, after the response.
// It hands records to the handler directly: going through Logger would capture the caller's
// program counter on every request, which the access log never prints.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	h := log.Handler()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !h.Enabled(r.Context(), slog.LevelInfo) {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{ResponseWriter: w}
			start := time.Now()
			defer func() {
				in := verdict.From(r.Context())
				if !in.Start.IsZero() {
					start = in.Start
				}
				app, kind, action, rule, score := in.Snapshot()
				status := rec.status
				if status == 0 {
					status = http.StatusOK // handler wrote nothing: net/http sends 200
				}
				now := time.Now()
				line := slog.NewRecord(now, slog.LevelInfo, "request", 0)
				line.AddAttrs(
					slog.String("method", r.Method),
					slog.String("host", r.Host),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Int64("bytes", rec.bytes),
					slog.Float64("ms", float64(now.Sub(start).Microseconds())/1000),
					slog.String("ip", in.IP),
					slog.String("id", in.ID),
					slog.String("proto", r.Proto),
					slog.String("app", app),
					slog.String("kind", string(kind)),
					slog.String("action", string(action)),
					slog.String("rule", rule),
					slog.Int("score", score),
				)
				h.Handle(r.Context(), line)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush()                      { http.NewResponseController(r.ResponseWriter).Flush() }
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// BodyLimit caps request bodies at max bytes: a declared length above the cap is refused
// with 413 before the handler runs; a chunked body is cut at the cap (the handler's read
// fails with *http.MaxBytesError, and TooLarge tells it to answer 413).
func BodyLimit(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				w.Header().Set("Connection", "close")
				Error(w, r, http.StatusRequestEntityTooLarge)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TooLarge reports whether err came from reading past the body cap.
func TooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// Error answers with the appliance's page for status (403, 404, 429, 502, 503, 504 have
// their own; others get a generic one). Every defense uses it so refusals look alike.
func Error(w http.ResponseWriter, r *http.Request, status int) {
	page := assets.ErrorPage(status)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Encoding")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(page)
	}
}
