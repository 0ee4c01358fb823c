// Package mailtest is a real SMTP server on loopback (emersion/go-smtp) for tests that
// deliver alerts by e-mail, like net/http/httptest is for HTTP. With a CA it offers STARTTLS
// (or, with Implicit, speaks TLS from the first byte like a port-465 server) with a
// certificate for 127.0.0.1 from that CA, and takes mail only over TLS; with a user it takes
// mail only after AUTH PLAIN with that user and password. Without either it is a plain local
// relay. It is imported by tests only.
package mailtest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"bulwark/core/pki"
)

// Options say what the server demands.
type Options struct {
	CA         *pki.CA // issues the server certificate; nil: plain text only
	Implicit   bool    // TLS from the first byte instead of STARTTLS (needs CA)
	User, Pass string  // required credentials; "" takes mail without AUTH
	// InsecureAuth offers AUTH on a plain connection: a server a client must refuse to send
	// its password to.
	InsecureAuth bool
	Buffer       int // messages kept until read (default 32)
}

// Server is a running SMTP server. Got carries each message's data; Auths counts successful
// authentications.
type Server struct {
	Addr  string
	Got   chan string
	Auths atomic.Int32
	opt   Options
}

// Start serves on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Buffer == 0 {
		o.Buffer = 32
	}
	srv := &Server{Got: make(chan string, o.Buffer), opt: o}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{srv: srv, conn: c}, nil }))
	s.Domain = "localhost"
	s.AllowInsecureAuth = o.InsecureAuth
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if o.CA != nil {
		certPEM, keyPEM, err := o.CA.Issue(pki.Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
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
	if o.Implicit {
		ln = tls.NewListener(ln, s.TLSConfig)
		s.TLSConfig = nil // no STARTTLS inside TLS
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	srv.Addr = ln.Addr().String()
	return srv
}

// Wait returns the next message, or fails the test after d.
func (srv *Server) Wait(t testing.TB, d time.Duration) string {
	t.Helper()
	select {
	case m := <-srv.Got:
		return m
	case <-time.After(d):
		t.Fatalf("no mail reached %s within %s", srv.Addr, d)
		return ""
	}
}

type session struct {
	srv   *Server
	conn  *smtp.Conn
	authd bool
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.opt.User || pass != s.srv.opt.Pass {
			return errors.New("bad credentials")
		}
		s.authd = true
		s.srv.Auths.Add(1)
		return nil
	}), nil
}

func (s *session) Mail(string, *smtp.MailOptions) error {
	if s.srv.opt.CA != nil {
		if _, ok := s.conn.TLSConnectionState(); !ok {
			return errors.New("TLS required")
		}
	}
	if s.srv.opt.User != "" && !s.authd {
		return errors.New("authenticate first")
	}
	return nil
}

func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.Got <- string(b)
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }
