package csrf

import (
	"bytes"
	"context"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"bulwark/core/verdict"
)

func multipartReader(body []byte, boundary string) *multipart.Reader {
	if boundary == "" {
		return nil
	}
	return multipart.NewReader(bytes.NewReader(body), boundary)
}

// Inject is the response-side stage: it gives the client a session cookie when an HTML page
// is served without one, and streams HTML responses through a rewriter that adds the hidden
// token field to every POST form. It also makes Rotate work for the handlers below it.
func (p *Protector) Inject() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sid := sessionOf(r)
			fresh := ""
			if sid == "" {
				sid = newSessionID()
				fresh = sid
			}
			st := &state{token: p.token(sid)}
			r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
			if id := verdict.From(r.Context()).ID; id != "" {
				p.live.Store(id, st)
				defer p.live.Delete(id)
			}
			iw := &injectWriter{ResponseWriter: w, st: st, fresh: fresh, head: r.Method == http.MethodHead, initial: st.token}
			next.ServeHTTP(iw, r)
			iw.finish()
		})
	}
}

type injectWriter struct {
	http.ResponseWriter
	st      *state
	initial string // token before any rotation
	fresh   string // session id to set if the page needs one
	head    bool
	wrote   bool
	z       *rewriter // nil when the response is not rewritten
}

func (iw *injectWriter) WriteHeader(code int) {
	if iw.wrote {
		return
	}
	iw.wrote = true
	h := iw.Header()
	token, pending := iw.st.seal()
	if pending != "" {
		http.SetCookie(iw.ResponseWriter, sessionCookie(pending)) // rotated by RotateRequest
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	enc := h.Get("Content-Encoding")
	if (mt == "text/html" || mt == "application/xhtml+xml") && (enc == "" || enc == "identity") {
		if iw.fresh != "" && token == iw.initial {
			http.SetCookie(iw.ResponseWriter, sessionCookie(iw.fresh))
		}
		h.Set(HeaderName, token)
		if !iw.head && code != http.StatusNoContent && code != http.StatusNotModified {
			h.Del("Content-Length") // the body grows
			iw.z = newRewriter(iw.ResponseWriter, token)
		}
	}
	iw.ResponseWriter.WriteHeader(code)
}

func (iw *injectWriter) Write(b []byte) (int, error) {
	if !iw.wrote {
		if iw.Header().Get("Content-Type") == "" {
			iw.Header().Set("Content-Type", http.DetectContentType(b))
		}
		iw.WriteHeader(http.StatusOK)
	}
	if iw.z == nil {
		return iw.ResponseWriter.Write(b)
	}
	if err := iw.z.write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Flush sends what the rewriter has decided on; a tag cut in half stays held back.
func (iw *injectWriter) Flush() {
	if f, ok := iw.ResponseWriter.(http.Flusher); ok {
		if !iw.wrote {
			iw.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

func (iw *injectWriter) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

func (iw *injectWriter) finish() {
	if iw.z != nil {
		iw.z.close()
	}
}

// maxHold bounds how much the rewriter holds back waiting for the end of a tag; a longer
// "tag" is passed through untouched.
const maxHold = 16 << 10

// rawText elements: their content is not markup, so a "<form" inside is not a form.
var rawText = map[string]bool{"script": true, "style": true, "textarea": true, "title": true, "xmp": true,
	"iframe": true, "noembed": true, "noframes": true, "noscript": true, "plaintext": true}

// rewriter scans HTML as it streams and writes the hidden field after every <form> start tag
// whose method is POST, and a <meta name="csrf-token"> after the first <head> so scripts can
// send the token in the X-CSRF-Token header. It holds back at most one unfinished construct (≤ maxHold bytes),
// never the body.
type rewriter struct {
	w       io.Writer
	field   []byte
	meta    []byte // <meta name="csrf-token"> for scripts, after the first <head>
	headed  bool
	pend    []byte
	comment bool
	raw     string // inside this raw-text element
	err     error
}

func newRewriter(w io.Writer, token string) *rewriter {
	t := html.EscapeString(token)
	return &rewriter{w: w, field: []byte(`<input type="hidden" name="` + FieldName + `" value="` + t + `">`),
		meta: []byte(`<meta name="csrf-token" content="` + t + `">`)}
}

func (z *rewriter) emit(b []byte) {
	if z.err == nil && len(b) > 0 {
		_, z.err = z.w.Write(b)
	}
}

func (z *rewriter) write(p []byte) error {
	buf := p
	if len(z.pend) > 0 {
		buf = append(z.pend, p...)
		z.pend = nil
	}
	out, i := 0, 0
	hold := func() {
		z.emit(buf[out:i])
		z.pend = append([]byte(nil), buf[i:]...)
	}
	for i < len(buf) {
		switch {
		case z.comment:
			j := bytes.Index(buf[i:], []byte("-->"))
			if j < 0 {
				i = max(i, len(buf)-2)
				hold()
				return z.err
			}
			i += j + 3
			z.comment = false
		case z.raw != "":
			j := indexFold(buf[i:], "</"+z.raw)
			if j < 0 {
				i = max(i, len(buf)-len(z.raw)-1)
				hold()
				return z.err
			}
			i += j // the end tag is parsed as a tag below
			z.raw = ""
		default:
			j := bytes.IndexByte(buf[i:], '<')
			if j < 0 {
				i = len(buf)
				continue
			}
			i += j
			rest := buf[i:]
			if len(rest) < 2 {
				hold()
				return z.err
			}
			if c := rest[1]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/' || c == '!' || c == '?') {
				i++ // "a < b" is text, not a tag
				continue
			}
			if len(rest) < 4 && bytes.HasPrefix([]byte("<!--"), rest) {
				hold()
				return z.err
			}
			if bytes.HasPrefix(rest, []byte("<!--")) {
				z.comment = true
				i += 4
				continue
			}
			end, ok := tagEnd(rest)
			if !ok {
				if len(rest) > maxHold {
					i++ // not a tag we can read: pass it through as text
					continue
				}
				hold()
				return z.err
			}
			name, closing, isPost := parseTag(rest[:end])
			i += end
			if !closing && name == "form" && isPost {
				z.emit(buf[out:i])
				z.emit(z.field)
				out = i
			}
			if !closing && name == "head" && !z.headed {
				z.headed = true
				z.emit(buf[out:i])
				z.emit(z.meta)
				out = i
			}
			if !closing && rawText[name] {
				z.raw = name
			}
		}
	}
	z.emit(buf[out:i])
	return z.err
}

func (z *rewriter) close() {
	z.emit(z.pend)
	z.pend = nil
}

// tagEnd finds the '>' ending the tag at the start of b, skipping quoted attribute values.
func tagEnd(b []byte) (int, bool) {
	var quote byte
	for k := 1; k < len(b); k++ {
		c := b[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			// Only a quote right after '=' (possibly spaced) opens a value.
			if prevNonSpace(b, k) == '=' {
				quote = c
			}
		case c == '>':
			return k + 1, true
		}
	}
	return 0, false
}

func prevNonSpace(b []byte, k int) byte {
	for k--; k >= 0; k-- {
		if !isSpace(b[k]) {
			return b[k]
		}
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// parseTag reads a tag's name and whether it is an end tag or a form with method=post.
func parseTag(t []byte) (name string, closing, post bool) {
	k := 1
	if k < len(t) && t[k] == '/' {
		closing = true
		k++
	}
	start := k
	for k < len(t) && !isSpace(t[k]) && t[k] != '>' && t[k] != '/' {
		k++
	}
	name = strings.ToLower(string(t[start:k]))
	if closing || name != "form" {
		return name, closing, false
	}
	// attributes
	for k < len(t) {
		for k < len(t) && (isSpace(t[k]) || t[k] == '/') {
			k++
		}
		s := k
		for k < len(t) && !isSpace(t[k]) && t[k] != '=' && t[k] != '>' && t[k] != '/' {
			k++
		}
		attr := strings.ToLower(string(t[s:k]))
		for k < len(t) && isSpace(t[k]) {
			k++
		}
		val := ""
		if k < len(t) && t[k] == '=' {
			k++
			for k < len(t) && isSpace(t[k]) {
				k++
			}
			if k < len(t) && (t[k] == '"' || t[k] == '\'') {
				q := t[k]
				k++
				s := k
				for k < len(t) && t[k] != q {
					k++
				}
				val = string(t[s:k])
				k++
			} else {
				s := k
				for k < len(t) && !isSpace(t[k]) && t[k] != '>' {
					k++
				}
				val = string(t[s:k])
			}
		}
		if attr == "method" && strings.EqualFold(strings.TrimSpace(html.UnescapeString(val)), "post") {
			post = true
		}
		if attr == "" {
			k++
		}
	}
	return name, false, post
}

// indexFold is a case-insensitive bytes.Index for an ASCII needle.
func indexFold(b []byte, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(b); i++ {
		if b[i] == '<' && strings.EqualFold(string(b[i:i+n]), needle) {
			return i
		}
	}
	return -1
}
