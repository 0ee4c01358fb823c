package admin

import (
	"context"
	"net/http"
	"strings"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/clients"
)

// identity is the caller as proven by its client certificate.
type identity struct {
	Name, Role, Serial string
	Expiry             time.Time
}

type ctxKey int

const (
	idKey ctxKey = iota
	auditKey
)

func callerOf(r *http.Request) identity {
	id, _ := r.Context().Value(idKey).(identity)
	return id
}

// auditNote lets a handler describe its change for the audit trail.
func auditNote(r *http.Request, format string) {
	if p, ok := r.Context().Value(auditKey).(*string); ok {
		*p = format
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(c int) {
	if s.status == 0 {
		s.status = c
	}
	s.ResponseWriter.WriteHeader(c)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// guard wraps a route: certificate check on every request (so a revocation also cuts off
// connections opened before it), role check, metrics and the audit record of changes.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() { s.metrics.countRequest(rt.pattern, sw.status, time.Since(start)) }()
		if r.TLS == nil {
			writeJSON(sw, http.StatusForbidden, adminapi.Error{Message: "the admin API is served over mutual TLS only"})
			return
		}
		if len(r.TLS.PeerCertificates) == 0 {
			if rt.noCert && r.TLS.ServerName == adminbundle.EnrollServerName {
				rt.h(sw, r)
				return
			}
			s.authFailure(r.RemoteAddr, "request", "no client certificate")
			w.Header().Set("Connection", "close")
			writeJSON(sw, http.StatusUnauthorized, adminapi.Error{Message: "a client certificate is required"})
			return
		}
		cert := r.TLS.PeerCertificates[0]
		c, err := s.opt.Clients.Check(cert)
		if err != nil {
			s.authFailure(r.RemoteAddr, "request", err.Error())
			w.Header().Set("Connection", "close")
			writeJSON(sw, http.StatusUnauthorized, adminapi.Error{Message: "certificate rejected: " + err.Error()})
			return
		}
		s.opt.Clients.Touch(c.Serial)
		id := identity{Name: c.Name, Role: c.Role, Serial: c.Serial, Expiry: c.NotAfter}
		if ou := cert.Subject.OrganizationalUnit; len(ou) != 1 || ou[0] != c.Role {
			s.authFailure(r.RemoteAddr, "request", "certificate role does not match the register")
			writeJSON(sw, http.StatusUnauthorized, adminapi.Error{Message: "certificate rejected: role mismatch"})
			return
		}
		if rt.write && !rt.anyRole && id.Role != adminbundle.RoleAdmin {
			s.authFailure(r.RemoteAddr, "role", id.Name+" ("+id.Role+") tried "+r.Method+" "+r.URL.Path)
			writeJSON(sw, http.StatusForbidden, adminapi.Error{Message: "role " + id.Role + " may only read; this change needs an admin certificate"})
			return
		}
		ctx := context.WithValue(r.Context(), idKey, id)
		var note string
		if rt.write {
			ctx = context.WithValue(ctx, auditKey, &note)
		}
		rt.h(sw, r.WithContext(ctx))
		if rt.write {
			if note == "" {
				note = strings.TrimPrefix(r.URL.Path, adminapi.Prefix)
			}
			if err := s.opt.Audit.Record(context.WithoutCancel(r.Context()), adminapi.AuditEntry{
				TS: time.Now().UTC(), Client: id.Name, Role: id.Role, Method: r.Method, Path: r.URL.RequestURI(), Status: sw.status, Detail: note,
			}); err != nil {
				s.log.Error("admin: audit write failed", "err", err, "client", id.Name, "path", r.URL.Path)
			}
		}
	})
}

func toAPIClient(c clients.Client) adminapi.Client {
	return adminapi.Client{Name: c.Name, Role: c.Role, Serial: c.Serial, IssuedAt: c.IssuedAt, NotAfter: c.NotAfter, LastUsed: c.LastUsed, RevokedAt: c.RevokedAt, Enrolled: c.Enrolled}
}
