package config

import (
	"net"
	"time"
)

// Server configures the public listeners and their limits.
type Server struct {
	Listen            string   `toml:"listen"`      // public HTTPS address
	HTTPListen        string   `toml:"http_listen"` // plain HTTP: redirects to HTTPS and answers ACME http-01; "" disables
	PublicPort        int      `toml:"public_port"` // port used in redirects when the HTTPS listener is behind a port mapping; 0 = from Listen
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	ShutdownTimeout   Duration `toml:"shutdown_timeout"`
	MaxHeaderBytes    int      `toml:"max_header_bytes"`
	MaxBodyBytes      int64    `toml:"max_body_bytes"`
	MaxConnsPerIP     int      `toml:"max_conns_per_ip"`
}

func defaultServer() Server {
	return Server{
		Listen:            "127.0.0.1:8443",
		HTTPListen:        "127.0.0.1:8080",
		ReadHeaderTimeout: Duration(5 * time.Second),
		ReadTimeout:       Duration(30 * time.Second),
		WriteTimeout:      Duration(60 * time.Second),
		IdleTimeout:       Duration(120 * time.Second),
		ShutdownTimeout:   Duration(15 * time.Second),
		MaxHeaderBytes:    32 << 10,
		MaxBodyBytes:      10 << 20,
		MaxConnsPerIP:     64,
	}
}

func (s *Server) validate() error {
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return Errorf("server.listen", "%q is not host:port", s.Listen)
	}
	if s.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(s.HTTPListen); err != nil {
			return Errorf("server.http_listen", "%q is not host:port", s.HTTPListen)
		}
	}
	if s.PublicPort < 0 || s.PublicPort > 65535 {
		return Errorf("server.public_port", "must be 0..65535, got %d", s.PublicPort)
	}
	for f, d := range map[string]Duration{
		"server.read_header_timeout": s.ReadHeaderTimeout, "server.read_timeout": s.ReadTimeout,
		"server.write_timeout": s.WriteTimeout, "server.idle_timeout": s.IdleTimeout,
		"server.shutdown_timeout": s.ShutdownTimeout,
	} {
		if err := positive(f, d); err != nil {
			return err
		}
	}
	if s.MaxHeaderBytes < 1024 {
		return Errorf("server.max_header_bytes", "must be at least 1024, got %d", s.MaxHeaderBytes)
	}
	if s.MaxBodyBytes < 1 {
		return Errorf("server.max_body_bytes", "must be positive, got %d", s.MaxBodyBytes)
	}
	if s.MaxConnsPerIP < 1 {
		return Errorf("server.max_conns_per_ip", "must be at least 1, got %d", s.MaxConnsPerIP)
	}
	return nil
}

// TLS configures certificates: ACME when Domains is set, else the appliance CA.
type TLS struct {
	Domains     []string `toml:"domains"`
	ACMEDirURL  string   `toml:"acme_directory_url"`
	ACMEEmail   string   `toml:"acme_email"`
	ACMECACert  string   `toml:"acme_ca_cert"` // PEM file trusted for the ACME directory (private ACME servers)
	ServerNames []string `toml:"server_names"` // extra names in the CA-issued server certificate
}

func defaultTLS() TLS {
	return TLS{ACMEDirURL: "https://acme-v02.api.letsencrypt.org/directory"}
}

func (t *TLS) validate() error {
	for i, d := range t.Domains {
		if d == "" || net.ParseIP(d) != nil {
			return Errorf("tls.domains", "entry %d (%q) must be a DNS name", i, d)
		}
	}
	if len(t.Domains) > 0 && t.ACMEDirURL == "" {
		return Errorf("tls.acme_directory_url", "required when tls.domains is set")
	}
	return nil
}
