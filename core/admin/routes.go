package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/clients"
	"bulwark/core/event"
	"bulwark/core/version"
)

// route is one entry of the API. The table is the single source for the router, the
// OpenAPI test and the role checks.
type route struct {
	method, pattern string
	write           bool // a change: admin role required and audited
	anyRole         bool // a change any authenticated role may make (renewing itself)
	noCert          bool // answered without a client certificate (enrollment only)
	h               http.HandlerFunc
}

// Routes lists "METHOD /path" of every route (for the OpenAPI consistency test).
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.method + " " + r.pattern
	}
	return out
}

func (s *Server) routeTable() []route {
	p := adminapi.Prefix
	get := func(path string, h func(http.ResponseWriter, *http.Request) error) route {
		return route{method: "GET", pattern: path, h: errHandler(h)}
	}
	chg := func(method, path string, h func(http.ResponseWriter, *http.Request) error) route {
		return route{method: method, pattern: path, write: true, h: errHandler(h)}
	}
	renew := chg("POST", p+"/clients/renew", s.renewClient)
	renew.anyRole = true
	enroll := route{method: "POST", pattern: p + "/enroll", noCert: true, write: false, h: errHandler(s.redeem)}
	return []route{
		get("/metrics", s.serveMetrics),
		get(p+"/openapi.json", s.serveOpenAPI),
		get(p+"/status", s.status),
		get(p+"/audit", s.audit),

		get(p+"/clients", s.listClients),
		chg("POST", p+"/clients", s.issueClient),
		chg("DELETE", p+"/clients/{name}", s.revokeClient),
		chg("POST", p+"/clients/enroll", s.inviteClient),
		renew,
		enroll,

		get(p+"/apps", s.listApps),
		chg("POST", p+"/apps", s.deployApp),
		chg("DELETE", p+"/apps/{name}", s.removeApp),
		get(p+"/apps/{name}/versions", s.appVersions),
		chg("POST", p+"/apps/{name}/rollback", s.rollbackApp),
		chg("PUT", p+"/apps/{name}/limits", s.appLimits),
		chg("POST", p+"/apps/{name}/enable", s.enableApp(true)),
		chg("POST", p+"/apps/{name}/disable", s.enableApp(false)),
		get(p+"/apps/{name}/logs", s.appLogs),

		get(p+"/access/bans", s.listBans),
		chg("POST", p+"/access/bans", s.addBan),
		chg("DELETE", p+"/access/bans", s.removeBan),
		get(p+"/access/{list}", s.listAccess),
		chg("POST", p+"/access/{list}", s.addAccess),
		chg("DELETE", p+"/access/{list}", s.removeAccess),

		get(p+"/policies", s.listDocs(func() ConfigService { return s.opt.Policies }, "policies")),
		get(p+"/policies/{name}", s.getDoc(func() ConfigService { return s.opt.Policies }, "policies")),
		chg("PUT", p+"/policies/{name}", s.putDoc(func() ConfigService { return s.opt.Policies }, "policies")),
		get(p+"/settings", s.listDocs(func() ConfigService { return s.opt.Settings }, "settings")),
		get(p+"/settings/{name}", s.getDoc(func() ConfigService { return s.opt.Settings }, "settings")),
		chg("PUT", p+"/settings/{name}", s.putDoc(func() ConfigService { return s.opt.Settings }, "settings")),

		get(p+"/events", s.queryEvents),
		get(p+"/events/stats", s.eventStats),
		get(p+"/events/top", s.eventTop),
		get(p+"/events/stream", s.streamEvents),

		get(p+"/alerts/rules", s.listRules),
		chg("POST", p+"/alerts/rules", s.putRule),
		chg("DELETE", p+"/alerts/rules/{id}", s.deleteRule),
		get(p+"/alerts/channels", s.listChannels),
		chg("POST", p+"/alerts/channels", s.putChannel),
		chg("DELETE", p+"/alerts/channels/{name}", s.deleteChannel),
		chg("POST", p+"/alerts/channels/{name}/test", s.testChannel),
		get(p+"/alerts/history", s.alertHistory),
		chg("POST", p+"/alerts/history/{id}/ack", s.ackAlert),
	}
}

func errHandler(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	}
}

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, s.guard(rt))
	}
	// Anything else still needs a valid certificate before it learns that the path is unknown.
	notFound := route{pattern: "unknown", h: func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, adminapi.Error{Message: "no such API route: " + r.Method + " " + r.URL.Path})
	}}
	mux.Handle("/", s.guard(notFound))
	return mux
}

func (s *Server) body(w http.ResponseWriter, r *http.Request, v any) error {
	return decode(w, r, s.opt.Config.MaxBodyBytes, v)
}

func parsePrefix(field, v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return netip.Prefix{}, adminapi.Errorf(400, field, "an IP address or CIDR is required")
	}
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, adminapi.Errorf(400, field, "%q is not a valid CIDR (e.g. 203.0.113.0/24)", v)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, adminapi.Errorf(400, field, "%q is not a valid IP address", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseDuration(field, v string, min time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, adminapi.Errorf(400, field, "%q is not a duration (use e.g. \"90s\", \"15m\", \"24h\")", v)
	}
	if d < min {
		return 0, adminapi.Errorf(400, field, "must be at least %s, got %s", min, d)
	}
	return d, nil
}

// ---- status, audit, metrics ----

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	id := callerOf(r)
	st := adminapi.Status{
		Version:       version.Version,
		StartedAt:     s.started.UTC(),
		UptimeSeconds: time.Since(s.started).Seconds(),
		Listeners:     []adminapi.Listener{{Name: "admin", Addr: s.Endpoint()}},
		EventDrops:    map[string]uint64{},
		Workers:       []adminapi.WorkerHealth{},
		Client:        adminapi.Identity{Name: id.Name, Role: id.Role, Serial: id.Serial, Expiry: id.Expiry},
	}
	if c := s.cert.Load(); c != nil && c.Leaf != nil {
		st.Certificates = append(st.Certificates, adminapi.CertInfo{Name: "admin", Subject: c.Leaf.Subject.CommonName, NotAfter: c.Leaf.NotAfter})
	}
	st.Certificates = append(st.Certificates, adminapi.CertInfo{Name: "ca", Subject: s.opt.CA.Cert.Subject.CommonName, NotAfter: s.opt.CA.Cert.NotAfter})
	if s.opt.Bus != nil {
		st.EventDrops = s.opt.Bus.Drops()
	}
	if s.opt.Status != nil {
		s.opt.Status(r.Context(), &st)
	}
	writeJSON(w, 200, st)
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	n, err := intParam(r, "limit", 100, 1, 10000)
	if err != nil {
		return err
	}
	list, err := s.opt.Audit.List(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, 200, list)
	return nil
}

func intParam(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, adminapi.Errorf(400, name, "must be a number %d..%d, got %q", min, max, v)
	}
	return n, nil
}

// ---- clients ----

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) error {
	out := []adminapi.Client{}
	for _, c := range s.opt.Clients.List() {
		out = append(out, toAPIClient(c))
	}
	writeJSON(w, 200, out)
	return nil
}

func clientErr(err error) error {
	switch {
	case errors.Is(err, clients.ErrExists):
		return adminapi.Errorf(409, "name", "%v", err)
	case errors.Is(err, clients.ErrNotFound):
		return adminapi.Errorf(404, "name", "%v", err)
	case strings.Contains(err.Error(), "role"):
		return adminapi.Errorf(400, "role", "%v", err)
	case strings.Contains(err.Error(), "client name"):
		return adminapi.Errorf(400, "name", "%v", err)
	}
	return err
}

func (s *Server) issueClient(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.IssueRequest
	if err := s.body(w, r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = adminbundle.RoleViewer
	}
	validity := s.opt.Config.ClientValidity.D()
	if req.Days < 0 || req.Days > 3650 {
		return adminapi.Errorf(400, "days", "must be 1..3650, got %d", req.Days)
	}
	if req.Days > 0 {
		validity = time.Duration(req.Days) * 24 * time.Hour
	}
	b, err := s.opt.Clients.Issue(req.Name, req.Role, validity, s.Endpoint())
	if err != nil {
		return clientErr(err)
	}
	auditNote(r, fmt.Sprintf("issued %s (%s)", req.Name, req.Role))
	writeJSON(w, 201, b)
	return nil
}

func (s *Server) revokeClient(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	n, err := s.opt.Clients.Revoke(name)
	if err != nil {
		return clientErr(err)
	}
	auditNote(r, fmt.Sprintf("revoked %s (%d certificates)", name, n))
	writeJSON(w, 200, adminapi.RevokeResponse{Revoked: n})
	return nil
}

func (s *Server) inviteClient(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.EnrollRequest
	if err := s.body(w, r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = adminbundle.RoleViewer
	}
	ttl := s.opt.Config.EnrollTTL.D()
	if req.TTL != "" {
		d, err := parseDuration("ttl", req.TTL, time.Minute)
		if err != nil {
			return err
		}
		if d > 24*time.Hour {
			return adminapi.Errorf(400, "ttl", "must be at most 24h, got %s", d)
		}
		ttl = d
	}
	secret, exp, err := s.opt.Clients.CreateToken(req.Name, req.Role, ttl)
	if err != nil {
		return clientErr(err)
	}
	tok := adminbundle.Token{Endpoint: s.Endpoint(), CAFingerprint: s.opt.CA.Fingerprint(), Secret: secret}
	auditNote(r, fmt.Sprintf("enrollment token for %s (%s) until %s", req.Name, req.Role, exp.Format(time.RFC3339)))
	writeJSON(w, 201, adminapi.EnrollResponse{Token: tok.String(), Expires: exp})
	return nil
}

func parseCSR(field, p string) (*ecdsa.PublicKey, error) {
	blk, _ := pem.Decode([]byte(p))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, adminapi.Errorf(400, field, "a PEM CERTIFICATE REQUEST is required")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, adminapi.Errorf(400, field, "certificate request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, adminapi.Errorf(400, field, "certificate request signature: %v", err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, adminapi.Errorf(400, field, "the key must be ECDSA P-256")
	}
	return pub, nil
}

func (s *Server) renewClient(w http.ResponseWriter, r *http.Request) error {
	id := callerOf(r)
	var req adminapi.RenewRequest
	if err := s.body(w, r, &req); err != nil {
		return err
	}
	pub, err := parseCSR("csr", req.CSR)
	if err != nil {
		return err
	}
	certPEM, err := s.opt.Clients.SignFor(id.Name, id.Role, pub, s.opt.Config.ClientValidity.D(), true)
	if err != nil {
		return err
	}
	auditNote(r, "renewed "+id.Name)
	writeJSON(w, 201, adminapi.RenewResponse{Cert: string(certPEM)})
	return nil
}

// redeem is the enrollment endpoint: the one call answered without a client certificate.
func (s *Server) redeem(w http.ResponseWriter, r *http.Request) error {
	peer := r.RemoteAddr
	ip := peer
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		ip = ap.Addr().String()
	}
	fail := func(status int, msg string) error {
		s.enrollAttempt(peer, false, "", msg)
		return adminapi.Errorf(status, "", "enrollment refused: %s", msg)
	}
	if !s.enroll.Allow(ip, time.Now()) {
		w.Header().Set("Retry-After", "60")
		return fail(http.StatusTooManyRequests, "too many enrollment attempts; wait a minute")
	}
	var req adminapi.RedeemRequest
	if err := decode(w, r, 16<<10, &req); err != nil {
		s.enrollAttempt(peer, false, "", err.Error())
		return err
	}
	pub, err := parseCSR("csr", req.CSR)
	if err != nil {
		s.enrollAttempt(peer, false, "", err.Error())
		return err
	}
	name, role, certPEM, err := s.opt.Clients.Redeem(req.Secret, pub, s.opt.Config.ClientValidity.D())
	if err != nil {
		if errors.Is(err, clients.ErrTokenUnknown) || errors.Is(err, clients.ErrTokenUsed) || errors.Is(err, clients.ErrTokenExpired) {
			s.enrollAttempt(peer, false, name, err.Error())
			return adminapi.Errorf(http.StatusForbidden, "secret", "enrollment refused: %v", err)
		}
		return fail(500, err.Error())
	}
	s.enrollAttempt(peer, true, name, "certificate issued")
	_ = s.opt.Audit.Record(context.WithoutCancel(r.Context()), adminapi.AuditEntry{
		TS: time.Now().UTC(), Client: name, Role: role, Method: r.Method, Path: r.URL.Path, Status: 201, Detail: "enrolled " + name + " from " + peer,
	})
	writeJSON(w, 201, adminapi.RedeemResponse{Name: name, Role: role, Endpoint: s.Endpoint(), CA: string(s.opt.CA.CertPEM), Cert: string(certPEM)})
	return nil
}

func (s *Server) enrollAttempt(peer string, ok bool, name, reason string) {
	ip := peer
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		ip = ap.Addr().String()
	}
	sev, act := event.Medium, event.Blocked
	if ok {
		sev, act = event.Info, event.Logged
	} else {
		s.metrics.authFailures.Add(1)
	}
	s.log.Info("admin: enrollment attempt", "peer", peer, "ok", ok, "name", name, "reason", reason)
	s.sink.Emit(event.Event{
		TS: time.Now().UTC(), Kind: event.AdminAuth, Severity: sev, Action: act, IP: ip, Rule: "admin.enroll",
		Detail: event.DetailJSON(map[string]any{"peer": peer, "ok": ok, "name": name, "reason": reason}),
	})
}

// ---- apps ----

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	list, err := s.opt.Apps.List(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []adminapi.App{}
	}
	writeJSON(w, 200, list)
	return nil
}

func (s *Server) deployApp(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	max := s.opt.Config.MaxUploadBytes
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return adminapi.Errorf(413, "", "app archive is larger than %d bytes (admin.max_upload_bytes)", max)
		}
		return adminapi.Errorf(400, "", "reading the archive: %v", err)
	}
	if len(b) == 0 {
		return adminapi.Errorf(400, "", "the request body must be the app archive (tar.gz or zip)")
	}
	app, err := s.opt.Apps.Deploy(r.Context(), b)
	if err != nil {
		var ae *adminapi.Error
		if errors.As(err, &ae) || errors.Is(err, adminapi.ErrUnavailable) {
			return err
		}
		return adminapi.Errorf(422, "", "deploy refused, the previous version keeps serving: %v", err)
	}
	auditNote(r, fmt.Sprintf("deployed %s version %s (%d bytes)", app.Name, app.Version, len(b)))
	writeJSON(w, 201, app)
	return nil
}

func (s *Server) removeApp(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	if err := s.opt.Apps.Remove(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	auditNote(r, "removed app "+r.PathValue("name"))
	writeJSON(w, 200, map[string]string{"removed": r.PathValue("name")})
	return nil
}

func (s *Server) appVersions(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	v, err := s.opt.Apps.Versions(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if v == nil {
		v = []adminapi.AppVersion{}
	}
	writeJSON(w, 200, v)
	return nil
}

func (s *Server) rollbackApp(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	var req adminapi.RollbackRequest
	if r.ContentLength != 0 {
		if err := s.body(w, r, &req); err != nil {
			return err
		}
	}
	app, err := s.opt.Apps.Rollback(r.Context(), r.PathValue("name"), req.Version)
	if err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("rolled %s back to %s", app.Name, app.Version))
	writeJSON(w, 200, app)
	return nil
}

func (s *Server) appLimits(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	var raw json.RawMessage
	if err := s.body(w, r, &raw); err != nil {
		return err
	}
	app, err := s.opt.Apps.SetLimits(r.Context(), r.PathValue("name"), raw)
	if err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("limits of %s: %s", app.Name, raw))
	writeJSON(w, 200, app)
	return nil
}

func (s *Server) enableApp(on bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.opt.Apps == nil {
			return unavailable("apps")
		}
		app, err := s.opt.Apps.SetEnabled(r.Context(), r.PathValue("name"), on)
		if err != nil {
			return err
		}
		writeJSON(w, 200, app)
		return nil
	}
}

func (s *Server) appLogs(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Apps == nil {
		return unavailable("apps")
	}
	n, err := intParam(r, "n", 100, 1, 10000)
	if err != nil {
		return err
	}
	l, err := s.opt.Apps.Logs(r.Context(), r.PathValue("name"), n)
	if err != nil {
		return err
	}
	if l == nil {
		l = []adminapi.LogLine{}
	}
	writeJSON(w, 200, l)
	return nil
}

// ---- access ----

func (s *Server) listBans(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Bans == nil {
		return unavailable("bans")
	}
	l, err := s.opt.Bans.Bans(r.Context())
	if err != nil {
		return err
	}
	if l == nil {
		l = []adminapi.Ban{}
	}
	writeJSON(w, 200, l)
	return nil
}

func (s *Server) addBan(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Bans == nil {
		return unavailable("bans")
	}
	var req adminapi.BanRequest
	if err := s.body(w, r, &req); err != nil {
		return err
	}
	p, err := parsePrefix("ip", req.IP)
	if err != nil {
		return err
	}
	var d time.Duration
	if req.Duration != "" {
		if d, err = parseDuration("duration", req.Duration, time.Second); err != nil {
			return err
		}
	}
	b, err := s.opt.Bans.Ban(r.Context(), p, d, req.Reason, "admin:"+callerOf(r).Name)
	if err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("ban %s for %s: %s", p, orForever(req.Duration), req.Reason))
	writeJSON(w, 201, b)
	return nil
}

func orForever(d string) string {
	if d == "" {
		return "ever"
	}
	return d
}

func (s *Server) removeBan(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Bans == nil {
		return unavailable("bans")
	}
	p, err := parsePrefix("ip", r.URL.Query().Get("ip"))
	if err != nil {
		return err
	}
	if err := s.opt.Bans.Unban(r.Context(), p); err != nil {
		return err
	}
	auditNote(r, "unban "+p.String())
	writeJSON(w, 200, map[string]string{"removed": p.String()})
	return nil
}

func accessList(r *http.Request) (string, error) {
	l := r.PathValue("list")
	if l != "allow" && l != "deny" {
		return "", adminapi.Errorf(404, "list", "no access list %q (allow, deny, bans)", l)
	}
	return l, nil
}

func (s *Server) listAccess(w http.ResponseWriter, r *http.Request) error {
	l, err := accessList(r)
	if err != nil {
		return err
	}
	if s.opt.Lists == nil {
		return unavailable("access lists")
	}
	out, err := s.opt.Lists.List(r.Context(), l)
	if err != nil {
		return err
	}
	if out == nil {
		out = []adminapi.AccessEntry{}
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) addAccess(w http.ResponseWriter, r *http.Request) error {
	l, err := accessList(r)
	if err != nil {
		return err
	}
	if s.opt.Lists == nil {
		return unavailable("access lists")
	}
	var req adminapi.AccessRequest
	if err := s.body(w, r, &req); err != nil {
		return err
	}
	p, err := parsePrefix("cidr", req.CIDR)
	if err != nil {
		return err
	}
	if err := s.opt.Lists.Add(r.Context(), l, p, req.Note); err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("%s add %s %s", l, p, req.Note))
	writeJSON(w, 201, adminapi.AccessEntry{CIDR: p.String(), Note: req.Note, Created: time.Now().UTC()})
	return nil
}

func (s *Server) removeAccess(w http.ResponseWriter, r *http.Request) error {
	l, err := accessList(r)
	if err != nil {
		return err
	}
	if s.opt.Lists == nil {
		return unavailable("access lists")
	}
	p, err := parsePrefix("cidr", r.URL.Query().Get("cidr"))
	if err != nil {
		return err
	}
	if err := s.opt.Lists.Remove(r.Context(), l, p); err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("%s rm %s", l, p))
	writeJSON(w, 200, map[string]string{"removed": p.String()})
	return nil
}

// ---- policies and settings ----

func (s *Server) listDocs(svc func() ConfigService, what string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := svc()
		if c == nil {
			return unavailable(what)
		}
		out := map[string]json.RawMessage{}
		for _, n := range c.Names() {
			d, err := c.Get(r.Context(), n)
			if err != nil {
				return err
			}
			out[n] = d
		}
		writeJSON(w, 200, out)
		return nil
	}
}

func (s *Server) getDoc(svc func() ConfigService, what string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := svc()
		if c == nil {
			return unavailable(what)
		}
		d, err := c.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, err = w.Write(d)
		return err
	}
}

func (s *Server) putDoc(svc func() ConfigService, what string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := svc()
		if c == nil {
			return unavailable(what)
		}
		var raw json.RawMessage
		if err := s.body(w, r, &raw); err != nil {
			return err
		}
		if err := c.Put(r.Context(), r.PathValue("name"), raw); err != nil {
			return err
		}
		out := map[string]string{"updated": r.PathValue("name")}
		// A service may apply part of a document only at the next start (the WAF's paranoia
		// needs the rules recompiled); say so rather than let the operator believe it runs.
		if p, ok := c.(interface{ Pending(string) string }); ok {
			if why := p.Pending(r.PathValue("name")); why != "" {
				out["pending"] = why
			}
		}
		auditNote(r, fmt.Sprintf("%s %s = %s", what, r.PathValue("name"), truncate(string(raw), 2000)))
		writeJSON(w, 200, out)
		return nil
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ---- events ----

func (s *Server) filter(r *http.Request) (adminapi.EventFilter, error) {
	return adminapi.ParseEventFilter(r.URL.Query(), time.Now())
}

func (s *Server) queryEvents(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Events == nil {
		return unavailable("event queries")
	}
	f, err := s.filter(r)
	if err != nil {
		return err
	}
	page, err := s.opt.Events.Query(r.Context(), f)
	if err != nil {
		return err
	}
	if page.Events == nil {
		page.Events = []event.Event{}
	}
	writeJSON(w, 200, page)
	return nil
}

func (s *Server) eventStats(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Events == nil {
		return unavailable("event queries")
	}
	f, err := s.filter(r)
	if err != nil {
		return err
	}
	bucket := time.Minute
	if v := r.URL.Query().Get("bucket"); v != "" {
		if bucket, err = parseDuration("bucket", v, time.Minute); err != nil {
			return err
		}
	}
	if f.Since.IsZero() {
		f.Since = time.Now().Add(-time.Hour)
	}
	b, err := s.opt.Events.Stats(r.Context(), f, bucket)
	if err != nil {
		return err
	}
	if b == nil {
		b = []adminapi.StatsBucket{}
	}
	writeJSON(w, 200, b)
	return nil
}

func (s *Server) eventTop(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Events == nil {
		return unavailable("event queries")
	}
	f, err := s.filter(r)
	if err != nil {
		return err
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "ip"
	}
	ok := false
	for _, b := range adminapi.TopBy {
		ok = ok || b == by
	}
	if !ok {
		return adminapi.Errorf(400, "by", "cannot rank by %q (one of %s)", by, strings.Join(adminapi.TopBy, ", "))
	}
	n, err := intParam(r, "n", 10, 1, 1000)
	if err != nil {
		return err
	}
	t, err := s.opt.Events.Top(r.Context(), f, by, n)
	if err != nil {
		return err
	}
	if t == nil {
		t = []adminapi.TopEntry{}
	}
	writeJSON(w, 200, t)
	return nil
}

// ---- alerts ----

func (s *Server) alerts() (AlertsService, error) {
	if s.opt.Alerts == nil {
		return nil, unavailable("alerts")
	}
	return s.opt.Alerts, nil
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	writeJSON(w, 200, nonNil(a.Rules()))
	return nil
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func (s *Server) putRule(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	var rule adminapi.Rule
	if err := s.body(w, r, &rule); err != nil {
		return err
	}
	out, err := a.PutRule(rule)
	if err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("alert rule %s (%s)", out.ID, out.Name))
	writeJSON(w, 201, out)
	return nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	if err := a.DeleteRule(r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]string{"removed": r.PathValue("id")})
	return nil
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	chs := a.Channels()
	for i := range chs { // secrets are write-only
		chs[i] = redact(chs[i])
	}
	writeJSON(w, 200, nonNil(chs))
	return nil
}

func redact(c adminapi.Channel) adminapi.Channel {
	if c.Webhook != nil && c.Webhook.Secret != "" {
		wh := *c.Webhook
		wh.Secret = adminapi.SecretMask
		c.Webhook = &wh
	}
	if c.SMTP != nil && c.SMTP.Password != "" {
		sm := *c.SMTP
		sm.Password = adminapi.SecretMask
		c.SMTP = &sm
	}
	return c
}

func (s *Server) putChannel(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	var c adminapi.Channel
	if err := s.body(w, r, &c); err != nil {
		return err
	}
	if err := a.PutChannel(c); err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("alert channel %s (%s)", c.Name, c.Type))
	writeJSON(w, 201, redact(c))
	return nil
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	if err := a.DeleteChannel(r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]string{"removed": r.PathValue("name")})
	return nil
}

func (s *Server) testChannel(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	d, err := a.TestChannel(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, d)
	return nil
}

func (s *Server) alertHistory(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	n, err := intParam(r, "limit", 100, 1, 10000)
	if err != nil {
		return err
	}
	writeJSON(w, 200, nonNil(a.History(n)))
	return nil
}

func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return adminapi.Errorf(400, "id", "%q is not an alert id", r.PathValue("id"))
	}
	var req adminapi.AckRequest
	if r.ContentLength != 0 {
		if err := s.body(w, r, &req); err != nil {
			return err
		}
	}
	f, err := a.Acknowledge(id, callerOf(r).Name, req.Resolve)
	if err != nil {
		return err
	}
	auditNote(r, fmt.Sprintf("alert %d %s", id, f.State))
	writeJSON(w, 200, f)
	return nil
}
