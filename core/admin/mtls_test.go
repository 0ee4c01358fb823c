package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/pki"
)

func TestAdminSucceeds(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(h.admin)
	st, err := c.Status(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Client.Name != "root" || st.Client.Role != "admin" || len(st.Certificates) == 0 {
		t.Fatalf("status: %+v", st)
	}
	if _, err := c.Ban(ctx5(t), "203.0.113.7", "1h", "test"); err != nil {
		t.Fatal(err)
	}
	bans, _ := c.Bans(ctx5(t))
	if len(bans) != 1 || bans[0].IP != "203.0.113.7/32" || bans[0].Source != "admin:root" {
		t.Fatalf("bans: %+v", bans)
	}
	au, err := c.Audit(ctx5(t), 10)
	if err != nil || len(au) != 1 || au[0].Client != "root" || au[0].Method != "POST" || au[0].Status != 201 || !strings.Contains(au[0].Detail, "203.0.113.7") {
		t.Fatalf("audit: %+v %v", au, err)
	}
	list, err := c.Clients(ctx5(t))
	if err != nil || len(list) != 1 || list[0].LastUsed.IsZero() {
		t.Fatalf("clients: %+v %v", list, err)
	}
}

func TestNoClientCertificateRefused(t *testing.T) {
	h := newHarness(t, nil)
	conn, err := tls.Dial("tcp", h.srv.Endpoint(), &tls.Config{RootCAs: h.ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	if err == nil {
		// TLS 1.3: the client learns of the refusal on its first read.
		conn.Write([]byte("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n"))
		_, err = io.ReadAll(conn)
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
	e := h.waitAuth("admin.handshake")
	if e.IP != "127.0.0.1" || !strings.Contains(string(e.Detail), "certificate") {
		t.Fatalf("event: %+v %s", e, e.Detail)
	}
}

func TestTLS12Refused(t *testing.T) {
	h := newHarness(t, nil)
	cfg, _ := h.admin.TLSConfig()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	_, err := tls.Dial("tcp", h.srv.Endpoint(), cfg)
	if err == nil {
		t.Fatal("TLS 1.2 handshake accepted")
	}
	h.waitAuth("admin.handshake")
}

func TestOtherCARefused(t *testing.T) {
	h := newHarness(t, nil)
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _ := other.Issue(pki.Leaf{CommonName: "root", OrgUnit: "admin", Client: true})
	b := &adminbundle.Bundle{Name: "root", Role: "admin", Endpoint: h.srv.Endpoint(), CA: string(h.ca.CertPEM), Cert: string(cert), Key: string(key)}
	_, err = h.client(b).Status(ctx5(t))
	if !errors.Is(err, adminclient.ErrCertificate) {
		t.Fatalf("want ErrCertificate, got %v", err)
	}
	e := h.waitAuth("admin.handshake")
	if !strings.Contains(string(e.Detail), "unknown authority") {
		t.Fatalf("detail: %s", e.Detail)
	}
}

func TestExpiredRefused(t *testing.T) {
	h := newHarness(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, err := h.reg.SignFor("old", "admin", &key.PublicKey, time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	keyPEM, _ := pki.EncodeKey(key)
	b := &adminbundle.Bundle{Name: "old", Role: "admin", Endpoint: h.srv.Endpoint(), CA: string(h.ca.CertPEM), Cert: string(certPEM), Key: string(keyPEM)}
	_, err = h.client(b).Status(ctx5(t))
	if !errors.Is(err, adminclient.ErrCertificate) {
		t.Fatalf("want ErrCertificate, got %v", err)
	}
	e := h.waitAuth("admin.handshake")
	if !strings.Contains(string(e.Detail), "expired") {
		t.Fatalf("detail: %s", e.Detail)
	}
}

func TestRevokedAfterPoolWarm(t *testing.T) {
	h := newHarness(t, nil)
	ops := h.issue("ops", "admin")
	c := h.client(ops)
	for i := 0; i < 3; i++ { // warm the pool: the same connection is reused
		if _, err := c.Status(ctx5(t)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.client(h.admin).Revoke(ctx5(t), "ops")
	if err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	_, err = c.Status(ctx5(t))
	if !errors.Is(err, adminclient.ErrCertificate) {
		t.Fatalf("warm connection after revocation: want ErrCertificate, got %v", err)
	}
	e := h.waitAuth("admin.request")
	if !strings.Contains(string(e.Detail), "revoked") {
		t.Fatalf("detail: %s", e.Detail)
	}
	// A new connection is refused at the handshake.
	c.Close()
	_, err = c.Status(ctx5(t))
	if !errors.Is(err, adminclient.ErrCertificate) {
		t.Fatalf("new connection after revocation: want ErrCertificate, got %v", err)
	}
	e = h.waitAuth("admin.handshake")
	if !strings.Contains(string(e.Detail), "revoked") {
		t.Fatalf("detail: %s", e.Detail)
	}
}

func TestViewerCannotWrite(t *testing.T) {
	h := newHarness(t, nil)
	v := h.client(h.issue("watcher", "viewer"))
	if _, err := v.Status(ctx5(t)); err != nil {
		t.Fatalf("viewer read: %v", err)
	}
	if _, err := v.Bans(ctx5(t)); err != nil {
		t.Fatalf("viewer read: %v", err)
	}
	_, err := v.Ban(ctx5(t), "198.51.100.1", "", "x")
	var re *adminclient.RequestError
	if !errors.As(err, &re) || re.Status != 403 || !errors.Is(err, adminclient.ErrRefused) {
		t.Fatalf("viewer write: want 403 refused, got %v", err)
	}
	if _, err := v.Issue(ctx5(t), "sneaky", "admin", 0); err == nil {
		t.Fatal("viewer issued a certificate")
	}
	e := h.waitAuth("admin.role")
	if !strings.Contains(string(e.Detail), "watcher") {
		t.Fatalf("detail %s", e.Detail)
	}
	bans, _ := h.bans.Bans(ctx5(t))
	if len(bans) != 0 {
		t.Fatalf("viewer changed bans: %+v", bans)
	}
	// A viewer may renew its own certificate.
	nb, err := v.Renew(ctx5(t))
	if err != nil || nb.Role != "viewer" {
		t.Fatalf("renew: %v", err)
	}
	if _, err := h.client(nb).Status(ctx5(t)); err != nil {
		t.Fatalf("renewed bundle: %v", err)
	}
}

func TestUnreachableIsTold(t *testing.T) {
	h := newHarness(t, nil)
	b := *h.admin
	b.Endpoint = "127.0.0.1:1"
	_, err := h.client(&b).Status(ctx5(t))
	if !errors.Is(err, adminclient.ErrUnreachable) || errors.Is(err, adminclient.ErrCertificate) {
		t.Fatalf("want ErrUnreachable, got %v", err)
	}
}

func TestBadInputRefusedNothingChanged(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(h.admin)
	raw := func(method, path, body string) *adminclient.RequestError {
		t.Helper()
		err := c.Raw(ctx5(t), method, path, body)
		var re *adminclient.RequestError
		if !errors.As(err, &re) {
			t.Fatalf("%s %s %q: want a refusal, got %v", method, path, body, err)
		}
		return re
	}
	for _, tc := range []struct {
		body   string
		status int
		field  string
		msg    string
	}{
		{`{"ip":"10.0.0.1"`, 400, "", "malformed JSON"},
		{`{"ip": 10}`, 400, "ip", "must be string"},
		{`{"ip":"10.0.0.1","color":"red"}`, 400, "color", "unknown field"},
		{`{"ip":"10.0.0.1","duration":"forever"}`, 400, "duration", "not a duration"},
		{`{"ip":"10.0.0.0/33"}`, 400, "ip", "not a valid CIDR"},
		{`{"ip":"10.0.0.300"}`, 400, "ip", "not a valid IP"},
		{`{"ip":"10.0.0.1"} {"ip":"10.0.0.2"}`, 400, "", "more than one"},
		{``, 400, "", "empty"},
		{`{"ip":"10.0.0.1","reason":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "", "larger than"},
	} {
		re := raw("POST", "/api/v1/access/bans", tc.body)
		if re.Status != tc.status || re.Field != tc.field || !strings.Contains(re.Message, tc.msg) {
			t.Errorf("%.60q: got %d field=%q %q", tc.body, re.Status, re.Field, re.Message)
		}
	}
	re := raw("GET", "/api/v1/events?since=yesterday", "")
	if re.Status != 400 && re.Status != 501 {
		t.Errorf("bad since: %+v", re)
	}
	bans, _ := h.bans.Bans(ctx5(t))
	if len(bans) != 0 {
		t.Fatalf("bad input changed bans: %+v", bans)
	}
	re = raw("GET", "/api/v1/nope", "")
	if re.Status != 404 {
		t.Fatalf("unknown route: %+v", re)
	}
	re = raw("GET", "/api/v1/apps", "")
	if re.Status != 501 || !strings.Contains(re.Message, "not available") {
		t.Fatalf("unwired apps: %+v", re)
	}
	var body adminapi.Error
	json.Unmarshal([]byte(`{"error":"x","field":"y"}`), &body)
	if body.Field != "y" {
		t.Fatal("error body shape")
	}
}

func TestAdminCertificateRenewsItself(t *testing.T) {
	h := newHarness(t, nil)
	// Replace the admin certificate with one that expires in ten days.
	certPEM, keyPEM, err := h.ca.Issue(pki.Leaf{CommonName: "localhost", DNSNames: []string{"localhost"}, Validity: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pki.WriteAtomic(filepath.Join(h.dir, KeyFile), keyPEM, 0o600)
	pki.WriteAtomic(filepath.Join(h.dir, CertFile), certPEM, 0o644)
	if err := h.srv.loadCert(); err != nil {
		t.Fatal(err)
	}
	st, err := h.client(h.admin).Status(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Certificates {
		if c.Name == "admin" && time.Until(c.NotAfter) < 300*24*time.Hour {
			t.Fatalf("admin certificate not renewed: expires %s", c.NotAfter)
		}
	}
}
