// Package certs is where the public listener's certificates come from: ACME (Let's Encrypt
// or any RFC 8555 server, through autocert) for the configured domains, and the appliance's
// own CA for everything else (loopback access, IP addresses, names without ACME). It does
// not serve anything itself; the server asks it for a certificate per TLS handshake.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"bulwark/core/config"
	"bulwark/core/pki"
)

// defaultNames are always in the CA-issued server certificate so that a local browser or
// curl reaches the appliance over loopback.
var defaultNames = []string{"127.0.0.1", "localhost", "::1"}

// renewBefore is how long before expiry the CA-issued certificate is replaced.
const renewBefore = 30 * 24 * time.Hour

// ACMEDir is the cache folder for ACME account keys and certificates, inside the data folder.
const ACMEDir = "acme"

// Source answers TLS handshakes with a certificate.
type Source struct {
	// ALPN lists protocols the TLS configuration must offer ("acme-tls/1" with ACME).
	ALPN []string

	ca      *pki.CA
	data    string
	names   []string
	acme    *autocert.Manager
	domains map[string]bool
	log     *slog.Logger

	mu      sync.Mutex
	local   *tls.Certificate
	checked time.Time
}

// New prepares the certificate source for the data folder: it loads (or creates) the CA and
// the CA-issued server certificate, and sets up ACME when tls.domains is set. A corrupt
// certificate or key file is an error naming it; nothing is overwritten.
func New(cfg config.TLS, data string, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ca, err := pki.LoadOrCreateCA(data)
	if err != nil {
		return nil, fmt.Errorf("certificate authority in %s: %w", data, err)
	}
	s := &Source{ca: ca, data: data, log: log, names: ServerNames(cfg)}
	if _, err := s.localCert(true); err != nil {
		return nil, err
	}
	if len(cfg.Domains) > 0 {
		if err := s.setupACME(cfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ServerNames is the name list of the CA-issued certificate: the defaults plus
// tls.server_names, without duplicates.
func ServerNames(cfg config.TLS) []string {
	names := slices.Clone(defaultNames)
	for _, n := range cfg.ServerNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// CA is the appliance CA.
func (s *Source) CA() *pki.CA { return s.ca }

// ACME reports whether certificates for the configured domains come from ACME.
func (s *Source) ACME() bool { return s.acme != nil }

// localCert returns the CA-issued certificate, reissuing it when it nears expiry (checked at
// most hourly) or lacks one of the configured names.
func (s *Source) localCert(force bool) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force && s.local != nil && time.Since(s.checked) < time.Hour {
		return s.local, nil
	}
	certPath, keyPath := filepath.Join(s.data, pki.ServerCertFile), filepath.Join(s.data, pki.ServerKeyFile)
	pair, err := s.ca.EnsureServerCert(certPath, keyPath, s.names, renewBefore)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	if missing := missingNames(pair.Leaf, s.names); len(missing) > 0 {
		s.log.Info("reissuing the server certificate for new names", "names", strings.Join(missing, ","), "file", certPath)
		// A renew-before longer than any validity forces a new certificate.
		pair, err = s.ca.EnsureServerCert(certPath, keyPath, s.names, 100*365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
	}
	if pair.Leaf == nil || pair.Leaf.CheckSignatureFrom(s.ca.Cert) != nil {
		return nil, fmt.Errorf("server certificate %s was not issued by the CA in %s (remove %s and %s to issue a new one)",
			certPath, filepath.Join(s.data, pki.CACertFile), certPath, keyPath)
	}
	s.local, s.checked = &pair, time.Now()
	return s.local, nil
}

func missingNames(leaf *x509.Certificate, names []string) []string {
	var out []string
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				out = append(out, n)
			}
		} else if !slices.Contains(leaf.DNSNames, n) {
			out = append(out, n)
		}
	}
	return out
}

func (s *Source) setupACME(cfg config.TLS) error {
	cache := filepath.Join(s.data, ACMEDir)
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return fmt.Errorf("ACME cache %s: %w", cache, err)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	if cfg.ACMECACert != "" {
		pem, err := os.ReadFile(cfg.ACMECACert)
		if err != nil {
			return fmt.Errorf("tls.acme_ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls.acme_ca_cert %s: no PEM certificate found", cfg.ACMECACert)
		}
		hc.Transport = &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			Proxy:               http.ProxyFromEnvironment,
			TLSHandshakeTimeout: 10 * time.Second,
		}
	}
	s.domains = map[string]bool{}
	for _, d := range cfg.Domains {
		s.domains[strings.ToLower(d)] = true
	}
	s.acme = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cache),
		HostPolicy: autocert.HostWhitelist(cfg.Domains...),
		Email:      cfg.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: cfg.ACMEDirURL, HTTPClient: hc, UserAgent: "bulwark"},
	}
	s.ALPN = []string{acme.ALPNProto}
	return nil
}

// GetCertificate picks the certificate for a handshake: ACME for a configured domain
// (including the tls-alpn-01 challenge itself), the CA-issued one otherwise.
func (s *Source) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.acme != nil && s.domains[strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))] {
		return s.acme.GetCertificate(hello)
	}
	return s.localCert(false)
}

// HTTPHandler wraps the plain-HTTP handler so that ACME http-01 challenges are answered;
// without ACME it returns next unchanged.
func (s *Source) HTTPHandler(next http.Handler) http.Handler {
	if s.acme == nil {
		return next
	}
	h := s.acme.HTTPHandler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the host policy against r.Host verbatim; a validator on a port
		// other than 80 (a port mapping, a test CA) sends "name:port", which is the same name.
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			if host, _, err := net.SplitHostPort(r.Host); err == nil {
				r = r.WithContext(r.Context())
				r.Host = host
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Prefetch asks ACME for the certificates of all configured domains in the background, so
// the first visitor does not wait for issuance. Failures are logged; handshakes retry.
func (s *Source) Prefetch() {
	if s.acme == nil {
		return
	}
	for d := range s.domains {
		go func() {
			hello := &tls.ClientHelloInfo{ServerName: d, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256}, SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}, SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
			if _, err := s.acme.GetCertificate(hello); err != nil {
				s.log.Warn("ACME certificate not obtained yet", "domain", d, "err", err)
				return
			}
			s.log.Info("ACME certificate ready", "domain", d)
		}()
	}
}
