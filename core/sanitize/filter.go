package sanitize

import (
	"io"
	"mime"
	"net/http"
)

// Filter is the optional output filter for a route whose HTML responses should pass through
// policy p (for apps that echo user content and want a second net). It streams: the response
// body is piped through the sanitizer as it is written, never held whole. Other content types
// pass untouched.
func Filter(p *Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fw := &filterWriter{ResponseWriter: w, p: p}
			next.ServeHTTP(fw, r)
			fw.finish()
		})
	}
}

type filterWriter struct {
	http.ResponseWriter
	p     *Policy
	wrote bool
	pw    *io.PipeWriter
	done  chan error
}

func (f *filterWriter) WriteHeader(code int) {
	if f.wrote {
		return
	}
	f.wrote = true
	mt, _, _ := mime.ParseMediaType(f.Header().Get("Content-Type"))
	enc := f.Header().Get("Content-Encoding")
	if (mt == "text/html" || mt == "application/xhtml+xml") && (enc == "" || enc == "identity") {
		f.Header().Del("Content-Length")
		pr, pw := io.Pipe()
		f.pw, f.done = pw, make(chan error, 1)
		out := f.ResponseWriter
		go func() {
			err := f.p.SanitizeReaderToWriter(pr, out)
			pr.CloseWithError(err) // unblock the writer if the sanitizer stopped early
			f.done <- err
		}()
	}
	f.ResponseWriter.WriteHeader(code)
}

func (f *filterWriter) Write(b []byte) (int, error) {
	if !f.wrote {
		if f.Header().Get("Content-Type") == "" {
			f.Header().Set("Content-Type", http.DetectContentType(b))
		}
		f.WriteHeader(http.StatusOK)
	}
	if f.pw == nil {
		return f.ResponseWriter.Write(b)
	}
	return f.pw.Write(b)
}

func (f *filterWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func (f *filterWriter) finish() {
	if f.pw != nil {
		f.pw.Close()
		<-f.done
	}
}
