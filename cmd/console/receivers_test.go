package main

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"bulwark/core/pki"
)

// mailbox is a real SMTP server on loopback (emersion/go-smtp) that the appliance delivers
// alerts to. With a CA it offers STARTTLS with a certificate from that CA (or, made by
// newImplicitTLSMailbox, speaks TLS from the first byte like a port-465 server) and takes
// mail only from user/pass authenticated over TLS; without one it is a plain local relay.
type mailbox struct {
	Addr string
	got  chan string
	user string
	pass string
	tls  bool
}

type mailSession struct {
	mb    *mailbox
	conn  *smtp.Conn
	authd bool
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.mb.user || pass != s.mb.pass {
			return errors.New("bad credentials")
		}
		s.authd = true
		return nil
	}), nil
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	if !s.mb.tls {
		return nil
	}
	if _, ok := s.conn.TLSConnectionState(); !ok {
		return errors.New("TLS first")
	}
	if !s.authd {
		return errors.New("authenticate first")
	}
	return nil
}

func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.got <- string(b)
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// newMailbox starts the server; ca nil means plain text without authentication.
func newMailbox(t *testing.T, ca *pki.CA, user, pass string) *mailbox {
	t.Helper()
	return startMailbox(t, ca, user, pass, false)
}

// newImplicitTLSMailbox starts a server that speaks TLS from the first byte (RFC 8314
// "submissions"), with a certificate from ca.
func newImplicitTLSMailbox(t *testing.T, ca *pki.CA, user, pass string) *mailbox {
	t.Helper()
	return startMailbox(t, ca, user, pass, true)
}

func startMailbox(t *testing.T, ca *pki.CA, user, pass string, implicit bool) *mailbox {
	t.Helper()
	mb := &mailbox{got: make(chan string, 32), user: user, pass: pass, tls: ca != nil}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb, conn: c}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if ca != nil {
		certPEM, keyPEM, err := ca.Issue(pki.Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	mb.Addr = ln.Addr().String()
	return mb
}

// wait returns the next mail, or fails the test after d.
func (mb *mailbox) wait(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case m := <-mb.got:
		return m
	case <-time.After(d):
		t.Fatalf("no mail reached %s within %s", mb.Addr, d)
		return ""
	}
}
