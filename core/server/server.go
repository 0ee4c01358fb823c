package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"bulwark/core/config"
)

// Options is what the composition root hands the server.
type Options struct {
	Config config.Server
	TLS    *tls.Config  // public listener; see TLSConfig
	Public http.Handler // the public pipeline
	// PlainWrap (may be nil) wraps the plain-HTTP listener's redirect-to-HTTPS handler: the
	// composition root puts the ACME http-01 responder and the access log around it.
	PlainWrap func(redirect http.Handler) http.Handler
	Log       *slog.Logger
	// OnReject is called (never blocking) for each connection closed by the per-IP cap.
	OnReject func(listener, ip string)
	// Listeners are sockets bound by someone else (systemd socket activation), by name:
	// "https" replaces Config.Listen, "http" replaces Config.HTTPListen.
	Listeners map[string]net.Listener
}

// Server owns the public listeners from Listen to the end of Serve.
type Server struct {
	o            Options
	httpsL       net.Listener // TCP, per-IP limited (TLS is layered in Serve)
	httpL        net.Listener
	https, plain *http.Server
	mu           sync.Mutex
	listening    bool
}

// New builds a server; it binds nothing until Listen.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o}
	var plain http.Handler = redirectFor{s}
	if o.PlainWrap != nil {
		plain = o.PlainWrap(plain)
	}
	s.https = s.httpServer(o.Public, o.TLS)
	s.plain = s.httpServer(plain, nil)
	return s
}

func (s *Server) httpServer(h http.Handler, tc *tls.Config) *http.Server {
	c := s.o.Config
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: c.ReadHeaderTimeout.D(),
		ReadTimeout:       c.ReadTimeout.D(),
		WriteTimeout:      c.WriteTimeout.D(),
		IdleTimeout:       c.IdleTimeout.D(),
		MaxHeaderBytes:    c.MaxHeaderBytes,
		// net/http's own complaints (TLS handshake failures from scanners, bad requests) are
		// noise at the default level; they stay available at debug.
		ErrorLog: slog.NewLogLogger(s.o.Log.Handler(), slog.LevelDebug),
	}
}

// redirectFor redirects to this server's HTTPS port: server.public_port when set (the
// listener sits behind a port mapping), else the port actually bound.
type redirectFor struct{ s *Server }

func (h redirectFor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	port := h.s.o.Config.PublicPort
	if port == 0 {
		port = h.s.httpsL.Addr().(*net.TCPAddr).Port
	}
	redirect{port}.ServeHTTP(w, r)
}

// Listen binds both listeners (or takes the activated ones). An occupied port is an error
// naming the config key and the address.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listening {
		return errors.New("server: already listening")
	}
	c := s.o.Config
	l, err := s.bind("https", "server.listen", c.Listen)
	if err != nil {
		return err
	}
	s.httpsL = LimitPerIP(l, c.MaxConnsPerIP, s.rejecter("https"))
	if c.HTTPListen != "" || s.o.Listeners["http"] != nil {
		l, err := s.bind("http", "server.http_listen", c.HTTPListen)
		if err != nil {
			s.httpsL.Close()
			return err
		}
		s.httpL = LimitPerIP(l, c.MaxConnsPerIP, s.rejecter("http"))
	}
	s.listening = true
	return nil
}

func (s *Server) bind(name, key, addr string) (net.Listener, error) {
	if l := s.o.Listeners[name]; l != nil {
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return nil, fmt.Errorf("%s %s: address already in use (another process holds the port; stop it or change %s)", key, addr, key)
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("%s %s: permission denied (ports below 1024 need systemd socket activation or CAP_NET_BIND_SERVICE)", key, addr)
		}
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	return l, nil
}

func (s *Server) rejecter(name string) func(string) {
	return func(ip string) {
		s.o.Log.Debug("connection refused: per-IP cap", "listener", name, "ip", ip, "max", s.o.Config.MaxConnsPerIP)
		if s.o.OnReject != nil {
			s.o.OnReject(name, ip)
		}
	}
}

// Addr is the HTTPS listener's address (after Listen).
func (s *Server) Addr() net.Addr { return s.httpsL.Addr() }

// HTTPAddr is the plain-HTTP listener's address, or nil when it is off.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpL == nil {
		return nil
	}
	return s.httpL.Addr()
}

// Serve serves until ctx is done, then stops accepting and lets in-flight requests finish
// within server.shutdown_timeout; what is still running then is cut off and reported.
func (s *Server) Serve(ctx context.Context) error {
	if !s.listening {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- s.https.Serve(tls.NewListener(s.httpsL, s.o.TLS)) }()
	s.o.Log.Info("listening", "listener", "https", "addr", s.httpsL.Addr().String())
	if s.httpL != nil {
		go func() { errc <- s.plain.Serve(s.httpL) }()
		s.o.Log.Info("listening", "listener", "http", "addr", s.httpL.Addr().String())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		s.o.Log.Error("listener failed", "err", serveErr)
	}
	timeout := s.o.Config.ShutdownTimeout.D()
	s.o.Log.Info("draining", "timeout", timeout.String())
	start := time.Now()
	dctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var drainErr error
	for _, hs := range []*http.Server{s.https, s.plain} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Shutdown(dctx); err != nil {
				hs.Close()
				mu.Lock()
				drainErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if s.httpL == nil {
		s.plain.Close()
	}
	if drainErr != nil {
		s.o.Log.Warn("stopped before in-flight requests finished", "timeout", timeout.String())
		return fmt.Errorf("drain: requests still running after server.shutdown_timeout %s were cut off", timeout)
	}
	s.o.Log.Info("stopped", "drained_in", time.Since(start).Round(time.Millisecond).String())
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}
