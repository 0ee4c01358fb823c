package config

import (
	"net"
	"net/url"
	"os"
	"strings"
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
	if s.ReadHeaderTimeout > s.ReadTimeout {
		return Errorf("server.read_header_timeout", "%s is longer than server.read_timeout %s, which also covers the headers",
			s.ReadHeaderTimeout.D(), s.ReadTimeout.D())
	}
	if s.HTTPListen != "" && s.HTTPListen == s.Listen && !strings.HasSuffix(s.Listen, ":0") {
		return Errorf("server.http_listen", "%q is also server.listen", s.HTTPListen)
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
		if d == "" || net.ParseIP(d) != nil || !dnsName(d) {
			return Errorf("tls.domains", "entry %d (%q) must be a DNS name", i, d)
		}
	}
	if len(t.Domains) > 0 {
		u, err := url.Parse(t.ACMEDirURL)
		if t.ACMEDirURL == "" {
			return Errorf("tls.acme_directory_url", "required when tls.domains is set")
		}
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return Errorf("tls.acme_directory_url", "%q must be an https:// URL", t.ACMEDirURL)
		}
	}
	if t.ACMECACert != "" {
		if _, err := os.Stat(t.ACMECACert); err != nil {
			return Errorf("tls.acme_ca_cert", "%v", err)
		}
	}
	for i, n := range t.ServerNames {
		if net.ParseIP(n) == nil && !dnsName(n) {
			return Errorf("tls.server_names", "entry %d (%q) must be a DNS name or an IP address", i, n)
		}
	}
	return nil
}

// dnsName accepts host names (letters, digits, hyphens, dots; a leading "*." wildcard is
// not allowed: ACME issues exact names here).
func dnsName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
