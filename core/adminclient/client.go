// Package adminclient is the typed client of the admin API, shared by the CLI and the
// console. Every call takes a context (a call without a deadline gets DefaultTimeout), and
// every failure is one of three kinds a person can act on: the appliance is unreachable
// (ErrUnreachable: wrong address, not running, network), the certificate was rejected
// (ErrCertificate: revoked, expired, another CA, or the server's certificate does not match
// the bundle's CA), or the request was refused (*RequestError with the API's message, field
// and status). It never imports Fyne.
package adminclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/event"
	"bulwark/core/pki"
)

// DefaultTimeout bounds calls whose context has no deadline (streams excepted).
const DefaultTimeout = 15 * time.Second

// Error kinds; test with errors.Is.
var (
	ErrUnreachable = errors.New("appliance unreachable")
	ErrCertificate = errors.New("certificate rejected")
	ErrRefused     = errors.New("request refused")
)

// RequestError is a refusal by the API: its status, message and the field at fault.
type RequestError struct {
	Status  int
	Message string
	Field   string
}

func (e *RequestError) Error() string {
	s := fmt.Sprintf("request refused (%d %s): %s", e.Status, http.StatusText(e.Status), e.Message)
	if e.Field != "" {
		s += " [field " + e.Field + "]"
	}
	return s
}

// Is makes errors.Is(err, ErrRefused) true; a 401 is a certificate rejection.
func (e *RequestError) Is(target error) bool {
	if target == ErrCertificate {
		return e.Status == http.StatusUnauthorized
	}
	return target == ErrRefused
}

type kindError struct {
	kind error
	msg  string
	err  error
}

func (e *kindError) Error() string   { return e.kind.Error() + ": " + e.msg }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
func wrapKind(kind error, msg string, err error) error {
	return &kindError{kind: kind, msg: msg, err: err}
}

// Client talks to one appliance with one adminbundle.
type Client struct {
	base   string
	hc     *http.Client
	bundle *adminbundle.Bundle
}

// New builds a client for b.
func New(b *adminbundle.Bundle) (*Client, error) {
	cfg, err := b.TLSConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	return &Client{base: "https://" + b.Endpoint, hc: &http.Client{Transport: tr}, bundle: b}, nil
}

// Open loads the bundle at path and builds a client.
func Open(path string) (*Client, error) {
	b, err := adminbundle.Load(path)
	if err != nil {
		return nil, err
	}
	return New(b)
}

// Bundle is the bundle the client uses.
func (c *Client) Bundle() *adminbundle.Bundle { return c.bundle }

// Endpoint is the admin address.
func (c *Client) Endpoint() string { return c.bundle.Endpoint }

// Close drops pooled connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// classify turns a transport error into one of the kinds.
func classify(endpoint string, err error) error {
	if err == nil {
		return nil
	}
	var ae tls.AlertError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return wrapKind(ErrUnreachable, fmt.Sprintf("%s did not answer in time", endpoint), err)
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &ae), errors.As(err, &cve), errors.As(err, &ue), errors.As(err, &he), errors.As(err, &ce),
		strings.Contains(msg, "remote error: tls:"), strings.Contains(msg, "tls: "):
		return wrapKind(ErrCertificate, fmt.Sprintf("the TLS handshake with %s failed (%v): the certificate may be revoked or expired, or the bundle belongs to another appliance", endpoint, err), err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return wrapKind(ErrUnreachable, fmt.Sprintf("nothing listens on %s (is 'bulwark serve' running?)", endpoint), err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// A TLS 1.3 server that rejects the client certificate closes right after the
		// handshake; the client may only see the connection drop.
		return wrapKind(ErrCertificate, fmt.Sprintf("%s closed the connection during the TLS exchange (%v): the client certificate was probably refused", endpoint, err), err)
	}
	var ne net.Error
	if errors.As(err, &ne) || strings.Contains(msg, "dial tcp") {
		return wrapKind(ErrUnreachable, fmt.Sprintf("cannot reach %s: %v", endpoint, err), err)
	}
	return wrapKind(ErrUnreachable, fmt.Sprintf("%s: %v", endpoint, err), err)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in any, out any) error {
	var body io.Reader
	ctype := ""
	switch v := in.(type) {
	case nil:
	case []byte:
		body, ctype = bytes.NewReader(v), "application/octet-stream"
	case json.RawMessage:
		body, ctype = bytes.NewReader(v), "application/json"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.doRaw(ctx, method, path, q, body, ctype, out)
}

func (c *Client) doRaw(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.explain(ctx, err)
	}
	defer resp.Body.Close()
	return decodeResponse(resp, out)
}

// explain classifies a transport error. A TLS 1.3 server refuses a client certificate after
// the client already considers the handshake done, so the request may fail with a bare
// broken pipe or reset; then a probe connection reads the server's alert to tell a refused
// certificate from a network fault.
func (c *Client) explain(ctx context.Context, err error) error {
	kerr := classify(c.bundle.Endpoint, err)
	var ke *kindError
	if !errors.As(kerr, &ke) || ke.kind != ErrUnreachable || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
		return kerr
	}
	cfg, cerr := c.bundle.TLSConfig()
	if cerr != nil {
		return kerr
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
	conn, derr := d.DialContext(pctx, "tcp", c.bundle.Endpoint)
	if derr != nil {
		if pe := classify(c.bundle.Endpoint, derr); errors.Is(pe, ErrCertificate) {
			return pe
		}
		return kerr
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	var one [1]byte
	_, rerr := conn.Read(one[:])
	var ae tls.AlertError
	if rerr != nil && (errors.As(rerr, &ae) || strings.Contains(rerr.Error(), "remote error: tls:")) {
		return wrapKind(ErrCertificate, fmt.Sprintf("%s refused the client certificate (%v): it may be revoked or expired, or belong to another appliance", c.bundle.Endpoint, rerr), rerr)
	}
	return kerr
}

func decodeResponse(resp *http.Response, out any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return wrapKind(ErrUnreachable, "reading the answer", err)
	}
	if resp.StatusCode >= 300 {
		var ae adminapi.Error
		if json.Unmarshal(b, &ae) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(b))
		}
		return &RequestError{Status: resp.StatusCode, Message: ae.Message, Field: ae.Field}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], b...)
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the appliance answered with unexpected JSON: %w", err)
	}
	return nil
}

const p = adminapi.Prefix

// Status is GET /status.
func (c *Client) Status(ctx context.Context) (adminapi.Status, error) {
	var s adminapi.Status
	return s, c.do(ctx, "GET", p+"/status", nil, nil, &s)
}

// ---- clients ----

// Clients lists issued certificates.
func (c *Client) Clients(ctx context.Context) ([]adminapi.Client, error) {
	var out []adminapi.Client
	return out, c.do(ctx, "GET", p+"/clients", nil, nil, &out)
}

// Issue creates a bundle for name (days 0 = the appliance's default validity).
func (c *Client) Issue(ctx context.Context, name, role string, days int) (*adminbundle.Bundle, error) {
	var b adminbundle.Bundle
	if err := c.do(ctx, "POST", p+"/clients", nil, adminapi.IssueRequest{Name: name, Role: role, Days: days}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Revoke revokes every certificate of name.
func (c *Client) Revoke(ctx context.Context, name string) (int, error) {
	var r adminapi.RevokeResponse
	return r.Revoked, c.do(ctx, "DELETE", p+"/clients/"+url.PathEscape(name), nil, nil, &r)
}

// Invite creates an enrollment token for name (ttl "" = appliance default).
func (c *Client) Invite(ctx context.Context, name, role, ttl string) (adminapi.EnrollResponse, error) {
	var r adminapi.EnrollResponse
	return r, c.do(ctx, "POST", p+"/clients/enroll", nil, adminapi.EnrollRequest{Name: name, Role: role, TTL: ttl}, &r)
}

func newCSR(cn string) (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, "", err
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// Renew gets a new certificate for a fresh key and returns the renewed bundle (the caller
// writes it over the old file). The old certificate stays valid until it expires.
func (c *Client) Renew(ctx context.Context) (*adminbundle.Bundle, error) {
	key, csr, err := newCSR(c.bundle.Name)
	if err != nil {
		return nil, err
	}
	var r adminapi.RenewResponse
	if err := c.do(ctx, "POST", p+"/clients/renew", nil, adminapi.RenewRequest{CSR: csr}, &r); err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	nb := *c.bundle
	nb.Cert, nb.Key = r.Cert, string(keyPEM)
	if _, err := nb.Check(); err != nil {
		return nil, fmt.Errorf("renewed certificate: %w", err)
	}
	return &nb, nil
}

// Enroll redeems a token: it generates a key here, pins the appliance CA by the token's
// fingerprint, and returns a complete adminbundle. The key never leaves this process.
func Enroll(ctx context.Context, token string) (*adminbundle.Bundle, error) {
	t, err := adminbundle.ParseToken(token)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	key, csr, err := newCSR("enroll")
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: t.EnrollTLSConfig(), DisableKeepAlives: true}}
	defer hc.CloseIdleConnections()
	b, _ := json.Marshal(adminapi.RedeemRequest{Secret: t.Secret, CSR: csr})
	req, err := http.NewRequestWithContext(ctx, "POST", "https://"+t.Endpoint+p+"/enroll", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, adminbundle.ErrFingerprint) || strings.Contains(err.Error(), adminbundle.ErrFingerprint.Error()) {
			return nil, wrapKind(ErrCertificate, adminbundle.ErrFingerprint.Error(), adminbundle.ErrFingerprint)
		}
		return nil, classify(t.Endpoint, err)
	}
	defer resp.Body.Close()
	var rr adminapi.RedeemResponse
	if err := decodeResponse(resp, &rr); err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	nb := &adminbundle.Bundle{Version: 1, Name: rr.Name, Role: rr.Role, Endpoint: t.Endpoint, CA: rr.CA, Cert: rr.Cert, Key: string(keyPEM)}
	if fp, err := nb.CAFingerprint(); err != nil || fp != strings.ToLower(t.CAFingerprint) {
		return nil, wrapKind(ErrCertificate, adminbundle.ErrFingerprint.Error(), adminbundle.ErrFingerprint)
	}
	if _, err := nb.Check(); err != nil {
		return nil, fmt.Errorf("enrolled certificate: %w", err)
	}
	return nb, nil
}

// ---- apps ----

// Apps lists deployed apps.
func (c *Client) Apps(ctx context.Context) ([]adminapi.App, error) {
	var out []adminapi.App
	return out, c.do(ctx, "GET", p+"/apps", nil, nil, &out)
}

// Deploy uploads an app archive (tar.gz or zip).
func (c *Client) Deploy(ctx context.Context, archive []byte) (adminapi.App, error) {
	var a adminapi.App
	return a, c.do(ctx, "POST", p+"/apps", nil, archive, &a)
}

// Versions lists an app's stored versions.
func (c *Client) Versions(ctx context.Context, name string) ([]adminapi.AppVersion, error) {
	var out []adminapi.AppVersion
	return out, c.do(ctx, "GET", p+"/apps/"+url.PathEscape(name)+"/versions", nil, nil, &out)
}

// Rollback activates version ("" = the previous one).
func (c *Client) Rollback(ctx context.Context, name, version string) (adminapi.App, error) {
	var a adminapi.App
	return a, c.do(ctx, "POST", p+"/apps/"+url.PathEscape(name)+"/rollback", nil, adminapi.RollbackRequest{Version: version}, &a)
}

// RemoveApp undeploys an app.
func (c *Client) RemoveApp(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", p+"/apps/"+url.PathEscape(name), nil, nil, nil)
}

// SetLimits replaces an app's limits (JSON object of app.json's "limits").
func (c *Client) SetLimits(ctx context.Context, name string, limits json.RawMessage) (adminapi.App, error) {
	var a adminapi.App
	return a, c.do(ctx, "PUT", p+"/apps/"+url.PathEscape(name)+"/limits", nil, limits, &a)
}

// SetEnabled enables or disables an app.
func (c *Client) SetEnabled(ctx context.Context, name string, on bool) (adminapi.App, error) {
	verb := "/disable"
	if on {
		verb = "/enable"
	}
	var a adminapi.App
	return a, c.do(ctx, "POST", p+"/apps/"+url.PathEscape(name)+verb, nil, nil, &a)
}

// AppLogs returns the last n console lines of an app.
func (c *Client) AppLogs(ctx context.Context, name string, n int) ([]adminapi.LogLine, error) {
	var out []adminapi.LogLine
	return out, c.do(ctx, "GET", p+"/apps/"+url.PathEscape(name)+"/logs", url.Values{"n": {strconv.Itoa(n)}}, nil, &out)
}

// ---- access ----

// Bans lists bans.
func (c *Client) Bans(ctx context.Context) ([]adminapi.Ban, error) {
	var out []adminapi.Ban
	return out, c.do(ctx, "GET", p+"/access/bans", nil, nil, &out)
}

// Ban bans ip (address or CIDR) for duration ("" = until removed).
func (c *Client) Ban(ctx context.Context, ip, duration, reason string) (adminapi.Ban, error) {
	var b adminapi.Ban
	return b, c.do(ctx, "POST", p+"/access/bans", nil, adminapi.BanRequest{IP: ip, Duration: duration, Reason: reason}, &b)
}

// Unban lifts a ban.
func (c *Client) Unban(ctx context.Context, ip string) error {
	return c.do(ctx, "DELETE", p+"/access/bans", url.Values{"ip": {ip}}, nil, nil)
}

// Access lists the "allow" or "deny" list.
func (c *Client) Access(ctx context.Context, list string) ([]adminapi.AccessEntry, error) {
	var out []adminapi.AccessEntry
	return out, c.do(ctx, "GET", p+"/access/"+url.PathEscape(list), nil, nil, &out)
}

// AccessAdd adds cidr to the "allow" or "deny" list.
func (c *Client) AccessAdd(ctx context.Context, list, cidr, note string) error {
	return c.do(ctx, "POST", p+"/access/"+url.PathEscape(list), nil, adminapi.AccessRequest{CIDR: cidr, Note: note}, nil)
}

// AccessRemove removes cidr from a list.
func (c *Client) AccessRemove(ctx context.Context, list, cidr string) error {
	return c.do(ctx, "DELETE", p+"/access/"+url.PathEscape(list), url.Values{"cidr": {cidr}}, nil, nil)
}

// ---- policies and settings ----

// Policies returns every policy document by name.
func (c *Client) Policies(ctx context.Context) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	return out, c.do(ctx, "GET", p+"/policies", nil, nil, &out)
}

// Policy returns one policy document (html, egress, waf, headers).
func (c *Client) Policy(ctx context.Context, name string) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, "GET", p+"/policies/"+url.PathEscape(name), nil, nil, &out)
}

// PutPolicy replaces a policy document.
func (c *Client) PutPolicy(ctx context.Context, name string, doc json.RawMessage) error {
	return c.do(ctx, "PUT", p+"/policies/"+url.PathEscape(name), nil, doc, nil)
}

// Settings returns every settings section.
func (c *Client) Settings(ctx context.Context) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	return out, c.do(ctx, "GET", p+"/settings", nil, nil, &out)
}

// PutSetting replaces one settings section.
func (c *Client) PutSetting(ctx context.Context, name string, doc json.RawMessage) error {
	return c.do(ctx, "PUT", p+"/settings/"+url.PathEscape(name), nil, doc, nil)
}

// Audit returns the newest audit entries.
func (c *Client) Audit(ctx context.Context, limit int) ([]adminapi.AuditEntry, error) {
	var out []adminapi.AuditEntry
	return out, c.do(ctx, "GET", p+"/audit", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &out)
}

// Metrics returns the Prometheus text of /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var raw json.RawMessage
	err := c.do(ctx, "GET", "/metrics", nil, nil, &raw)
	return string(raw), err
}

// ---- events ----

// Events queries stored events, newest first. The page's Total (and TotalCapped) count the
// events matching f on all pages; pass Next as f.Cursor for the next page, which reports
// the same Total.
func (c *Client) Events(ctx context.Context, f adminapi.EventFilter) (adminapi.EventPage, error) {
	var out adminapi.EventPage
	return out, c.do(ctx, "GET", p+"/events", f.Values(), nil, &out)
}

// Stats returns per-bucket counts (bucket 0 = one minute).
func (c *Client) Stats(ctx context.Context, f adminapi.EventFilter, bucket time.Duration) ([]adminapi.StatsBucket, error) {
	q := f.Values()
	if bucket > 0 {
		q.Set("bucket", bucket.String())
	}
	var out []adminapi.StatsBucket
	return out, c.do(ctx, "GET", p+"/events/stats", q, nil, &out)
}

// Top ranks the most frequent values of by (ip, rule, path, kind, app).
func (c *Client) Top(ctx context.Context, f adminapi.EventFilter, by string, n int) ([]adminapi.TopEntry, error) {
	q := f.Values()
	q.Set("by", by)
	if n > 0 {
		q.Set("n", strconv.Itoa(n))
	}
	var out []adminapi.TopEntry
	return out, c.do(ctx, "GET", p+"/events/top", q, nil, &out)
}

// Stream follows live events matching f (kind, severity, action, ip, app) and calls fn for
// each until ctx ends or fn returns an error. It reconnects on its own, resuming after the
// last event seen; lastSeq 0 starts from now. It returns the error that stopped it.
func (c *Client) Stream(ctx context.Context, f adminapi.EventFilter, lastSeq uint64, fn func(adminapi.StreamEvent) error) error {
	q := f.Values()
	q.Del("limit")
	backoff := 250 * time.Millisecond
	for {
		err := c.streamOnce(ctx, q, &lastSeq, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *fnError
		if errors.As(err, &fe) {
			return fe.err
		}
		if errors.Is(err, ErrCertificate) || errors.Is(err, ErrRefused) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

func (c *Client) streamOnce(ctx context.Context, q url.Values, last *uint64, fn func(adminapi.StreamEvent) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+p+"/events/stream?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(*last, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.explain(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return decodeResponse(resp, nil)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var id uint64
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data != nil && id > 0 {
				var e event.Event
				if err := json.Unmarshal(data, &e); err == nil {
					*last = id
					if err := fn(adminapi.StreamEvent{Seq: id, Event: e}); err != nil {
						return &fnError{err}
					}
				}
			}
			id, data = 0, nil
		case bytes.HasPrefix(line, []byte("id: ")):
			id, _ = strconv.ParseUint(string(line[4:]), 10, 64)
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append([]byte(nil), line[6:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return classify(c.bundle.Endpoint, err)
	}
	return wrapKind(ErrUnreachable, "the event stream ended", io.EOF)
}

// ---- alerts ----

// Rules lists alert rules.
func (c *Client) Rules(ctx context.Context) ([]adminapi.Rule, error) {
	var out []adminapi.Rule
	return out, c.do(ctx, "GET", p+"/alerts/rules", nil, nil, &out)
}

// PutRule creates or replaces (same ID) a rule.
func (c *Client) PutRule(ctx context.Context, r adminapi.Rule) (adminapi.Rule, error) {
	var out adminapi.Rule
	return out, c.do(ctx, "POST", p+"/alerts/rules", nil, r, &out)
}

// DeleteRule removes a rule.
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", p+"/alerts/rules/"+url.PathEscape(id), nil, nil, nil)
}

// Channels lists alert channels (secrets masked).
func (c *Client) Channels(ctx context.Context) ([]adminapi.Channel, error) {
	var out []adminapi.Channel
	return out, c.do(ctx, "GET", p+"/alerts/channels", nil, nil, &out)
}

// PutChannel creates or replaces a channel by name.
func (c *Client) PutChannel(ctx context.Context, ch adminapi.Channel) error {
	return c.do(ctx, "POST", p+"/alerts/channels", nil, ch, nil)
}

// DeleteChannel removes a channel.
func (c *Client) DeleteChannel(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", p+"/alerts/channels/"+url.PathEscape(name), nil, nil, nil)
}

// TestChannel sends a test alert through a channel.
func (c *Client) TestChannel(ctx context.Context, name string) (adminapi.Delivery, error) {
	var d adminapi.Delivery
	return d, c.do(ctx, "POST", p+"/alerts/channels/"+url.PathEscape(name)+"/test", nil, nil, &d)
}

// Alerts returns alert history, newest first.
func (c *Client) Alerts(ctx context.Context, limit int) ([]adminapi.Firing, error) {
	var out []adminapi.Firing
	return out, c.do(ctx, "GET", p+"/alerts/history", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &out)
}

// Ack acknowledges (or resolves) an alert.
func (c *Client) Ack(ctx context.Context, id int64, resolve bool) (adminapi.Firing, error) {
	var out adminapi.Firing
	return out, c.do(ctx, "POST", p+"/alerts/history/"+strconv.FormatInt(id, 10)+"/ack", nil, adminapi.AckRequest{Resolve: resolve}, &out)
}

// Raw sends body (JSON text, may be empty) to path and decodes nothing: for tools and tests
// that exercise the API's input checks.
func (c *Client) Raw(ctx context.Context, method, path, body string) error {
	var rd io.Reader
	ctype := ""
	if body != "" {
		rd, ctype = strings.NewReader(body), "application/json"
	}
	return c.doRaw(ctx, method, path, nil, rd, ctype, nil)
}
