// Package admin is the appliance's admin API: a mutual-TLS listener (TLS 1.3 only, client
// certificates from the appliance CA only, revocation checked on every handshake and every
// request), JSON routes under /api/v1 with roles admin and viewer, an audit trail naming the
// certificate behind every change, the live event stream, enrollment of new consoles and
// Prometheus metrics. It is never mounted on the public listener.
//
// The subsystems it exposes (apps, bans, events, policies, alerts) reach it through the
// small interfaces of services.go, wired by core/appliance; an unwired one answers 501.
package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bulwark/core/adminbundle"
	"bulwark/core/clients"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/pki"
)

// File names of the admin server certificate in the data folder.
const (
	CertFile = "admin.pem"
	KeyFile  = "admin.key"
)

// Options configure a Server. CA, Clients and Audit are required.
type Options struct {
	Config  config.Admin
	DataDir string
	CA      *pki.CA
	Clients *clients.Registry
	Audit   AuditLog
	// Bus feeds the live stream and the verdict counters; Sink receives admin_auth events
	// (usually the same bus).
	Bus    *event.Bus
	Sink   event.Sink
	Logger *slog.Logger
	// FirstBundle is the first admin bundle's path: when admin.listen has port 0 (tests),
	// its endpoint is rewritten to the bound address so the bundle works.
	FirstBundle string
	Services
}

// Server is the admin listener and API.
type Server struct {
	opt     Options
	log     *slog.Logger
	sink    event.Sink
	started time.Time
	cert    atomic.Pointer[tls.Certificate]
	hub     *Hub
	metrics *metrics
	enroll  *rateLimiter
	handler http.Handler
	routes  []route

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	stopHub  context.CancelFunc
	renewing chan struct{}
}

// New builds a server: it loads or issues the admin server certificate; it does not listen.
func New(opt Options) (*Server, error) {
	if opt.CA == nil || opt.Clients == nil || opt.Audit == nil {
		return nil, errors.New("admin: CA, client register and audit log are required")
	}
	if opt.Config.Listen == "" {
		opt.Config = config.Default().Admin
	}
	s := &Server{opt: opt, log: opt.Logger, sink: opt.Sink, started: time.Now()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.sink == nil {
		if opt.Bus != nil {
			s.sink = opt.Bus
		} else {
			s.sink = event.Discard
		}
	}
	if err := s.loadCert(); err != nil {
		return nil, err
	}
	s.hub = NewHub(1 << 16)
	s.metrics = newMetrics()
	s.enroll = newRateLimiter(opt.Config.EnrollPerMinute, time.Minute)
	s.routes = s.routeTable()
	s.handler = s.buildHandler()
	return s, nil
}

// certNames are the names in the admin server certificate.
func (s *Server) certNames() []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if host, _, err := net.SplitHostPort(s.opt.Config.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		names = append(names, host)
	}
	return append(names, s.opt.Config.ServerNames...)
}

// renewBefore is how long before expiry the admin server certificate is replaced.
const renewBefore = 30 * 24 * time.Hour

func (s *Server) loadCert() error {
	dir := s.opt.DataDir
	pair, err := s.opt.CA.EnsureServerCert(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), s.certNames(), renewBefore)
	if err != nil {
		return fmt.Errorf("admin server certificate: %w", err)
	}
	// The CA goes in the chain so an enrolling client can pin it by fingerprint.
	pair.Certificate = append(pair.Certificate[:1:1], s.opt.CA.Cert.Raw)
	s.cert.Store(&pair)
	return nil
}

// Hub is the live event stream (exposed so tests and the integrator can publish into it).
func (s *Server) Hub() *Hub { return s.hub }

// Handler is the API handler (it expects requests that came through the mTLS listener).
func (s *Server) Handler() http.Handler { return s.handler }

// Endpoint is the address clients should dial (the listening address once started).
func (s *Server) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return EndpointFor(s.opt.Config, s.ln.Addr().String())
	}
	return EndpointFor(s.opt.Config, s.opt.Config.Listen)
}

// EndpointFor is the address written into bundles for a listener bound to addr: a wildcard
// host (0.0.0.0, ::) is replaced by the first admin.server_names entry, else 127.0.0.1, so
// the name is one the admin certificate carries.
func EndpointFor(cfg config.Admin, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if len(cfg.ServerNames) > 0 {
			host = cfg.ServerNames[0]
		}
	}
	return net.JoinHostPort(host, port)
}

// TLSConfig is the listener's configuration: TLS 1.3, the CA as the only client root,
// certificates required except on the enrollment name while a token is outstanding.
func (s *Server) TLSConfig() *tls.Config {
	base := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              s.opt.CA.Pool(),
		SessionTicketsDisabled: true, // every connection proves its certificate afresh
		NextProtos:             []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		if hello.ServerName == adminbundle.EnrollServerName && s.opt.Clients.Outstanding() {
			c.ClientAuth = tls.VerifyClientCertIfGiven
		}
		c.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || len(chains[0]) == 0 {
				return nil // only reachable on the enrollment name; the handler allows just /enroll
			}
			if _, err := s.opt.Clients.Check(chains[0][0]); err != nil {
				return fmt.Errorf("client certificate refused: %w", err)
			}
			return nil
		}
		return c, nil
	}
	return base
}

// handshakeLog turns the http.Server's "TLS handshake error" lines into admin_auth events.
type handshakeLog struct{ s *Server }

var handshakeRE = regexp.MustCompile(`TLS handshake error from (\S+): (.*)`)

func (h handshakeLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if m := handshakeRE.FindStringSubmatch(line); m != nil {
		h.s.authFailure(m[1], "handshake", m[2])
	} else {
		h.s.log.Warn("admin listener", "msg", line)
	}
	return len(p), nil
}

// authFailure records a refused connection or request.
func (s *Server) authFailure(peer, stage, reason string) {
	s.metrics.authFailures.Add(1)
	ip := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		ip = h
	}
	s.log.Warn("admin: refused", "peer", peer, "stage", stage, "reason", reason)
	s.sink.Emit(event.Event{
		TS: time.Now().UTC(), Kind: event.AdminAuth, Severity: event.Medium, Action: event.Blocked,
		IP: ip, Rule: "admin." + stage,
		Detail: event.DetailJSON(map[string]string{"peer": peer, "stage": stage, "reason": reason}),
	})
}

// Start listens on the configured address and serves until ctx ends or Shutdown.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opt.Config.Listen)
	if err != nil {
		return fmt.Errorf("admin listener %s: %w", s.opt.Config.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (already bound) in the background.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
			s.log.Warn("admin API listens on a non-loopback address (admin.allow_remote is set)", "addr", ln.Addr().String())
		}
	}
	hctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(handshakeLog{s}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return hctx },
	}
	s.mu.Lock()
	s.ln, s.srv, s.stopHub = ln, srv, cancel
	s.renewing = make(chan struct{})
	s.mu.Unlock()
	if s.opt.Bus != nil {
		sub := s.opt.Bus.Subscribe("admin-stream", 1<<16)
		go s.hub.Run(hctx, sub, s.metrics.countEvent)
	}
	go s.renewLoop(hctx)
	go func() {
		if err := srv.Serve(tls.NewListener(ln, srv.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = s.Shutdown(sctx)
	}()
	s.fixFirstBundle(ln.Addr().String())
	s.log.Info("admin API listening", "addr", ln.Addr().String())
	return nil
}

// renewLoop replaces the admin server certificate before it expires.
func (s *Server) renewLoop(ctx context.Context) {
	t := time.NewTicker(12 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.loadCert(); err != nil {
				s.log.Error("admin certificate renewal failed", "err", err)
			}
		}
	}
}

// Shutdown stops the listener, ends streams and flushes the client register.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, cancel := s.srv, s.stopHub
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	cancel() // ends streams, which would otherwise hold Shutdown open
	err := srv.Shutdown(ctx)
	if ferr := s.opt.Clients.Flush(); err == nil {
		err = ferr
	}
	return err
}

// Name names the component (core/appliance.Component).
func (s *Server) Name() string { return "admin" }

// Run listens on admin.listen and serves until ctx ends (core/appliance.Component).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

func (s *Server) fixFirstBundle(addr string) {
	if s.opt.FirstBundle == "" {
		return
	}
	b, err := adminbundle.Load(s.opt.FirstBundle)
	if err != nil {
		return
	}
	if _, port, err := net.SplitHostPort(b.Endpoint); err != nil || port != "0" {
		return
	}
	b.Endpoint = EndpointFor(s.opt.Config, addr)
	if err := b.Write(s.opt.FirstBundle); err != nil {
		s.log.Error("admin: updating the first bundle's endpoint", "err", err)
	}
}
