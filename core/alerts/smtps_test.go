package alerts

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/alerts/mailtest"
	"bulwark/core/pki"
	"bulwark/db"
)

// newSMTPS serves submission over implicit TLS (RFC 8314 "submissions", port 465 in the
// wild) with a certificate from ca, AUTH PLAIN only inside TLS.
func newSMTPS(t *testing.T, ca *pki.CA) (*mailtest.Server, string) {
	s := mailtest.Start(t, mailtest.Options{CA: ca, Implicit: true, User: "alerts", Pass: "s3cret", Buffer: 10})
	return s, s.Addr
}

func smtpsChannel(name, addr, caPEM string) adminapi.Channel {
	return adminapi.Channel{Name: name, Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: addr, TLS: adminapi.SMTPImplicitTLS,
		From: "bulwark@example.test", To: []string{"soc@example.test"}, Username: "alerts", Password: "s3cret", CACert: caPEM, Timeout: "2s"}}
}

func TestSMTPImplicitTLSDeliversWithAuth(t *testing.T) {
	e, _, ca := newEngine(t)
	rx, addr := newSMTPS(t, ca)
	if err := e.PutChannel(smtpsChannel("smtps", addr, string(ca.CertPEM))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := e.TestChannel(context.Background(), "smtps")
	if err != nil || !d.OK || d.Attempts != 1 {
		t.Fatalf("delivery over implicit TLS: %+v %v", d, err)
	}
	// The session's Mail refuses unless authenticated inside TLS: arrival proves both.
	msg := within(t, "mail over implicit TLS", start, rx.Got)
	if !strings.Contains(msg, "Subject: [bulwark info] test alert from test-appliance") || rx.Auths.Load() != 1 {
		t.Fatalf("message %q, auths %d", msg, rx.Auths.Load())
	}
	if chs := e.Channels(); len(chs) != 1 || chs[0].SMTP.TLS != adminapi.SMTPImplicitTLS {
		t.Fatalf("stored channel lost its TLS mode: %+v", chs)
	}
}

// A server whose certificate the channel does not trust gets neither the password nor the
// mail: not with the channel's CA, not with the system roots.
func TestSMTPImplicitTLSRefusesAnotherCA(t *testing.T) {
	e, _, ca := newEngine(t)
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx, addr := newSMTPS(t, other)
	for _, ch := range []adminapi.Channel{smtpsChannel("pinned", addr, string(ca.CertPEM)), smtpsChannel("system", addr, "")} {
		if err := e.PutChannel(ch); err != nil {
			t.Fatal(err)
		}
		d, err := e.TestChannel(context.Background(), ch.Name)
		if err != nil || d.OK || !strings.Contains(d.Error, "implicit TLS") || !strings.Contains(d.Error, "certificate") {
			t.Fatalf("%s: want a certificate refusal, got %+v %v", ch.Name, d, err)
		}
	}
	if rx.Auths.Load() != 0 || len(rx.Got) != 0 {
		t.Fatalf("untrusted server got credentials (%d) or mail (%d)", rx.Auths.Load(), len(rx.Got))
	}
}

// A plain-text server on an implicit-TLS channel: it fails at once on the server's plain
// greeting, and a server that never says anything is cut off by the channel's timeout.
func TestSMTPImplicitTLSAgainstPlainServerFailsCleanly(t *testing.T) {
	e, _, ca := newEngine(t)
	rx := mailtest.Start(t, mailtest.Options{User: "alerts", Pass: "s3cret", InsecureAuth: true, Buffer: 1})

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held <- c // read nothing, write nothing
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()

	for _, tc := range []struct {
		name, addr, want string
		max              time.Duration
	}{
		{"plain", rx.Addr, "implicit TLS: tls: first record does not look like a TLS handshake (the server answered in plain text", time.Second},
		{"silent", silent.Addr().String(), "no TLS handshake within 1s", 3 * time.Second},
	} {
		ch := smtpsChannel(tc.name, tc.addr, string(ca.CertPEM))
		ch.SMTP.Timeout = "1s"
		if err := e.PutChannel(ch); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		d, err := e.TestChannel(context.Background(), tc.name)
		took := time.Since(start)
		t.Logf("%s server: %s after %s", tc.name, d.Error, took)
		if err != nil || d.OK || !strings.Contains(d.Error, tc.want) {
			t.Fatalf("%s server: want an error mentioning %q, got %+v %v", tc.name, tc.want, d, err)
		}
		if took > tc.max {
			t.Fatalf("%s server: failed after %s, want within %s (channel timeout 1s)", tc.name, took, tc.max)
		}
	}
	if rx.Auths.Load() != 0 || len(rx.Got) != 0 {
		t.Fatal("plain-text server got credentials or mail")
	}
}

func TestSMTPTLSValidation(t *testing.T) {
	e, _, _ := newEngine(t)
	base := func(tlsMode string, insecure bool) adminapi.Channel {
		return adminapi.Channel{Name: "m", Type: "smtp", SMTP: &adminapi.SMTPConfig{Addr: "mail.example.test:465", From: "a@b", To: []string{"c@d"},
			TLS: tlsMode, Insecure: insecure}}
	}
	for _, tc := range []struct {
		c     adminapi.Channel
		field string
	}{
		{base("ssl", false), "smtp.tls"},
		{base("IMPLICIT", false), "smtp.tls"},
		{base(adminapi.SMTPImplicitTLS, true), "smtp.insecure"},
	} {
		err := e.PutChannel(tc.c)
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Field != tc.field {
			t.Errorf("tls %q insecure %v: want error on %s, got %v", tc.c.SMTP.TLS, tc.c.SMTP.Insecure, tc.field, err)
		}
	}
	if len(e.Channels()) != 0 {
		t.Fatal("invalid channel was stored")
	}
	for _, c := range []adminapi.Channel{base("", false), base(adminapi.SMTPStartTLS, false), base(adminapi.SMTPStartTLS, true), base(adminapi.SMTPImplicitTLS, false)} {
		if err := e.PutChannel(c); err != nil {
			t.Errorf("tls %q insecure %v: %v", c.SMTP.TLS, c.SMTP.Insecure, err)
		}
	}
}

// A channel stored before the TLS field existed still loads and still delivers over STARTTLS.
func TestSMTPStoredBeforeTLSFieldKeepsSTARTTLS(t *testing.T) {
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	rx, addr := newSMTP(t, ca)
	caJSON := strings.ReplaceAll(strings.ReplaceAll(string(ca.CertPEM), "\n", `\n`), `"`, `\"`)
	old := `{"name":"mail","type":"smtp","smtp":{"addr":"` + addr + `","from":"bulwark@example.test","to":["soc@example.test"],` +
		`"username":"alerts","password":"s3cret","ca_cert":"` + caJSON + `"}}`
	if err := store.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO alerts_channels(name, doc) VALUES('mail', ?)`, old)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Options{Store: DBStore{DB: store}, Hostname: "test-appliance",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if chs := e.Channels(); len(chs) != 1 || chs[0].SMTP == nil || chs[0].SMTP.TLS != "" {
		t.Fatalf("old document: %+v", chs)
	}
	start := time.Now()
	if d, err := e.TestChannel(context.Background(), "mail"); err != nil || !d.OK {
		t.Fatalf("old channel over STARTTLS: %+v %v", d, err)
	}
	within(t, "mail over STARTTLS", start, rx.Got)
}
