package apps

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"bulwark/core/sandbox"
	"bulwark/core/verdict"
)

// hopByHop headers describe one connection and never pass between client and app.
var hopByHop = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "proxy-authorization": true, "proxy-authenticate": true}

func (m *Manager) match(host, p string) *route {
	for _, r := range *m.table.Load() {
		if r.r.Match(host, p) {
			rr := r
			return &rr
		}
	}
	return nil
}

// ServeHTTP routes a request to its app by host and path pattern.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := cleanPath(r.URL.Path)
	rt := m.match(r.Host, p)
	if rt == nil {
		m.page(w, http.StatusNotFound)
		return
	}
	in := verdict.From(r.Context())
	in.SetApp(rt.app)
	status := http.StatusOK
	defer func() {
		m.counts.add(rt.app, time.Now(), func(c *Counts) {
			c.Requests++
			if status >= 500 {
				c.Errors++
			}
		})
	}()
	if rt.dep.sup == nil {
		status = http.StatusServiceUnavailable // switched off by the operator
		m.page(w, status)
		return
	}
	lim := rt.dep.limits.RequestBodyBytes
	var body []byte
	if r.Body != nil && r.Body != http.NoBody { // a GET has none: no 512-byte read buffer for it
		b, err := io.ReadAll(io.LimitReader(r.Body, int64(lim)+1))
		if err != nil {
			status = http.StatusBadRequest
			m.page(w, status)
			return
		}
		if len(b) > lim {
			m.page(w, http.StatusRequestEntityTooLarge)
			return
		}
		body = b
	}
	hdr := make([]string, 0, 2*len(r.Header))
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if hopByHop[lk] {
			continue
		}
		for _, v := range vs {
			hdr = append(hdr, lk, v)
		}
	}
	id := in.ID
	if id == "" {
		id = verdict.NewID()
	}
	req := &sandbox.Request{ID: id, Method: r.Method, URL: "https://" + r.Host + r.URL.RequestURI(), Header: hdr,
		Body: body, IP: in.IP, Host: r.Host, Path: p}
	m.inflight.Store(id, &inflight{app: rt.app, req: req})
	defer m.inflight.Delete(id)
	defer m.sessions.Delete(id)

	resp, err := rt.dep.sup.Do(r.Context(), req)
	var se *sandbox.Error
	if errors.As(err, &se) && se.Outcome == sandbox.Unavailable {
		// The version was replaced between routing and dispatch: route again, once.
		if rt2 := m.match(r.Host, p); rt2 != nil && rt2.dep != rt.dep && rt2.dep.sup != nil {
			resp, err = rt2.dep.sup.Do(r.Context(), req)
		}
	}
	if err != nil {
		status = statusFor(err)
		m.page(w, status)
		return
	}
	status = resp.Status
	h := w.Header()
	for i := 0; i+1 < len(resp.Header); i += 2 {
		k := resp.Header[i]
		if hopByHop[strings.ToLower(k)] || strings.EqualFold(k, "content-length") {
			continue
		}
		h.Add(k, resp.Header[i+1])
	}
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead {
		w.Write(resp.Body)
	}
}

// statusFor maps how a request ended to the page the client sees.
func statusFor(err error) int {
	var se *sandbox.Error
	if !errors.As(err, &se) {
		return http.StatusBadGateway
	}
	switch se.Outcome {
	case sandbox.CPULimit, sandbox.WallLimit:
		return http.StatusGatewayTimeout
	case sandbox.Overloaded, sandbox.Unavailable:
		return http.StatusServiceUnavailable
	case sandbox.TooLarge:
		if strings.HasPrefix(se.Figure, "request") {
			return http.StatusRequestEntityTooLarge
		}
	}
	return http.StatusBadGateway
}

func (m *Manager) page(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	w.Write(m.cfg.Pages(status))
}

func plainPage(status int) []byte {
	return []byte(fmt.Sprintf("<!doctype html><title>%d %s</title><h1>%d %s</h1>\n", status, http.StatusText(status), status, http.StatusText(status)))
}
