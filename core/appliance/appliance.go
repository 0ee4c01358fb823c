package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"bulwark/core/certs"
	"bulwark/core/config"
	"bulwark/core/event"
	"bulwark/core/headers"
	"bulwark/core/server"
	"bulwark/db"
)

// Appliance is the running daemon: every component built from one configuration.
//
// Lifecycle: New builds everything without listening (other packages may then replace
// Pipeline stages and Add components), Listen binds the public ports, Serve runs until its
// context ends and then stops everything in order. Run is Listen then Serve.
type Appliance struct {
	Config   config.Config
	Log      *slog.Logger
	Events   *event.Bus     // every verdict goes here; the store writer is one subscriber
	Store    *db.DB         // the SQLite store in the data folder
	Writer   *db.Writer     // the event writer (started by Serve)
	Certs    *certs.Source  // public certificates: ACME or the appliance CA
	Headers  *headers.Set   // security-header profiles
	Pipeline Pipeline       // the public request path; fill stages before Listen
	Server   *server.Server // built by Listen

	// Listeners are pre-bound public sockets by name ("https", "http"), e.g. from systemd.
	Listeners map[string]net.Listener

	components []Component
	rejects    rejects
}

// Component is a part with its own lifecycle (admin listener, sandbox supervisor, alert
// engine). Run blocks until ctx is done, then stops cleanly and returns; an early error
// stops the whole appliance.
type Component interface {
	Name() string
	Run(ctx context.Context) error
}

// Option adjusts New.
type Option func(*options)

type options struct{ logOut io.Writer }

// WithLogOutput sends the JSON log somewhere other than stderr (tests).
func WithLogOutput(w io.Writer) Option { return func(o *options) { o.logOut = w } }

// NewLogger is the appliance's logger: slog JSON at the configured level.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.Level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// New builds the appliance from cfg: data folder, CA and certificates, store, header
// profiles and the foundation's pipeline stages. It binds no port.
func New(cfg config.Config, opts ...Option) (*Appliance, error) {
	o := options{logOut: os.Stderr}
	for _, f := range opts {
		f(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	a := &Appliance{Config: cfg, Log: NewLogger(cfg.Log, o.logOut), Events: event.NewBus()}
	if err := PrepareData(cfg.Data); err != nil {
		return nil, err
	}
	var err error
	if a.Certs, err = certs.New(cfg.TLS, cfg.Data, a.Log); err != nil {
		return nil, err
	}
	routes := map[string]string{}
	for _, r := range cfg.Headers.Routes {
		routes[r.Prefix] = r.Profile
	}
	if a.Headers, err = headers.New(headers.Config{Profile: cfg.Headers.Profile, Routes: routes, AllowLoosen: cfg.Headers.AllowAppLoosen}); err != nil {
		return nil, err
	}
	if a.Store, err = db.Open(filepath.Join(cfg.Data, StoreFile)); err != nil {
		return nil, err
	}
	a.Writer = db.NewWriter(a.Store, a.Events, cfg.Store)

	a.Pipeline = Pipeline{
		RequestInfo: server.RequestInfo,
		Limits:      server.BodyLimit(cfg.Server.MaxBodyBytes),
		Headers:     a.Headers.Middleware,
		Router:      newDemo(), // replaced by the sandbox router when apps are wired in
	}
	if cfg.Log.Access {
		a.Pipeline.AccessLog = server.AccessLog(a.Log)
	}
	return a, nil
}

// Add registers a component to run alongside the server.
func (a *Appliance) Add(c Component) { a.components = append(a.components, c) }

// Listen builds the server around the pipeline as it is now and binds the public ports.
func (a *Appliance) Listen() error {
	a.Server = server.New(server.Options{
		Config:    a.Config.Server,
		TLS:       server.TLSConfig(a.Certs.GetCertificate, a.Certs.ALPN...),
		Public:    a.Pipeline.Handler(),
		PlainWrap: a.plainHandler,
		Log:       a.Log,
		OnReject:  a.connRejected,
		Listeners: a.Listeners,
	})
	return a.Server.Listen()
}

// plainHandler is the HTTP listener's path: request record, access log, headers (without
// HSTS, which browsers ignore over HTTP), ACME http-01, then the redirect.
func (a *Appliance) plainHandler(redirect http.Handler) http.Handler {
	var access Middleware
	if a.Config.Log.Access {
		access = server.AccessLog(a.Log)
	}
	return chain(a.Certs.HTTPHandler(redirect), server.RequestInfo, access, a.Headers.Middleware)
}

// rejectEvery is how often one address's refused connections become an event: a flood of
// refused connections must not turn into a flood of rows.
const rejectEvery = 10 * time.Second

// rejects remembers when each address last produced a per-IP-cap event.
type rejects struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// connRejected turns connections refused by the per-IP cap into events, at most one per
// address per rejectEvery, carrying how many refusals it stands for.
func (a *Appliance) connRejected(listener, ip string) {
	now := time.Now()
	r := &a.rejects
	r.mu.Lock()
	if r.last == nil || len(r.last) > 4096 { // bounded: forget everyone rather than grow
		r.last, r.suppressed = map[string]time.Time{}, map[string]int{}
	}
	if now.Sub(r.last[ip]) < rejectEvery {
		r.suppressed[ip]++
		r.mu.Unlock()
		return
	}
	count := 1 + r.suppressed[ip]
	r.last[ip] = now
	delete(r.suppressed, ip)
	r.mu.Unlock()
	a.Events.Emit(event.Event{
		TS: now.UTC(), Kind: event.RateLimit, Severity: event.Low, Action: event.Blocked,
		IP: ip, Rule: "server.max_conns_per_ip",
		Detail: event.DetailJSON(map[string]any{"listener": listener, "max": a.Config.Server.MaxConnsPerIP, "refused": count}),
	})
}

// Serve runs the event writer, the components and the server until ctx is done (SIGTERM in
// `bulwark serve`), then drains the server within server.shutdown_timeout, stops the
// components, flushes the event writer and closes the store.
func (a *Appliance) Serve(ctx context.Context) error {
	if a.Server == nil {
		if err := a.Listen(); err != nil {
			a.Store.Close()
			return err
		}
	}
	if err := a.Writer.Start(); err != nil {
		a.Store.Close()
		return fmt.Errorf("event writer: %w", err)
	}
	a.Certs.Prefetch()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	for _, c := range a.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.Log.Error("component stopped", "component", c.Name(), "err", err)
				fail(fmt.Errorf("%s: %w", c.Name(), err))
			}
		}()
	}
	a.Log.Info("appliance started", "data", a.Config.Data, "acme", a.Certs.ACME())
	if err := a.Server.Serve(ctx); err != nil {
		fail(err)
	}
	cancel()
	wg.Wait()
	stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := a.Writer.Stop(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("event writer: %w", err))
	}
	if err := a.Store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	a.Log.Info("appliance stopped")
	return errors.Join(errs...)
}

// Run is Listen followed by Serve.
func (a *Appliance) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		a.Store.Close()
		return err
	}
	return a.Serve(ctx)
}

// Close releases what New opened when the appliance is never served (failed start, tests).
func (a *Appliance) Close() error { return a.Store.Close() }
