// Package adminbundle is the file an operator or console holds to reach an appliance's admin
// API: the appliance CA certificate, a client certificate with its key, and the admin
// endpoint, in one JSON file readable only by its owner. It also defines the enrollment
// token, which lets a console get a certificate for a key it generated itself, so keys never
// travel. (Not to be confused with core/bundle, which bundles app code.)
//
// It is shared by the server (which writes bundles), the CLI and the console (which read
// them); it depends only on the standard library and core/pki.
package adminbundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"bulwark/core/pki"
)

// Roles carried in the client certificate's OrganizationalUnit.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleViewer }

// Bundle is the content of a bundle file.
type Bundle struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Endpoint string `json:"endpoint"` // host:port of the admin listener
	CA       string `json:"ca"`       // PEM of the appliance CA
	Cert     string `json:"cert"`     // PEM of the client certificate
	Key      string `json:"key"`      // PEM of the client private key
}

// Marshal encodes b as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Write creates path with mode 0600 (replacing an existing file atomically).
func (b *Bundle) Write(path string) error {
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	if err := pki.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write bundle %s: %w", path, err)
	}
	return nil
}

// Load reads and checks a bundle file: it must be private to its owner (no group or other
// permission bits) and hold a CA, a certificate signed by it and the matching key.
func Load(path string) (*Bundle, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s does not exist: pass --bundle FILE, set $BULWARK_BUNDLE, or run 'bulwark init'", path)
		}
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("bundle %s has mode %04o: it holds a private key and must be readable only by its owner (run: chmod 600 %s)", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	return b, nil
}

// Parse decodes and checks bundle bytes.
func Parse(data []byte) (*Bundle, error) {
	var b Bundle
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&b); err != nil {
		return nil, fmt.Errorf("not a bundle file: %w", err)
	}
	if _, err := b.Check(); err != nil {
		return nil, err
	}
	return &b, nil
}

// Check verifies the bundle's parts fit together and returns the client certificate.
func (b *Bundle) Check() (*x509.Certificate, error) {
	switch {
	case b.Endpoint == "":
		return nil, errors.New("the endpoint is missing")
	case strings.TrimSpace(b.CA) == "":
		return nil, errors.New("the CA certificate is missing")
	case strings.TrimSpace(b.Cert) == "":
		return nil, errors.New("the client certificate is missing")
	case strings.TrimSpace(b.Key) == "":
		return nil, errors.New("the private key is missing")
	}
	ca, err := pki.ParseCert([]byte(b.CA))
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := pki.ParseCert([]byte(b.Cert))
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	key, err := pki.ParseKey([]byte(b.Key))
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("the private key does not match the client certificate")
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("the client certificate is not signed by the bundle's CA: %w", err)
	}
	return cert, nil
}

// Certificate returns the client certificate parsed.
func (b *Bundle) Certificate() (*x509.Certificate, error) { return pki.ParseCert([]byte(b.Cert)) }

// PrivateKey returns the client key parsed.
func (b *Bundle) PrivateKey() (*ecdsa.PrivateKey, error) { return pki.ParseKey([]byte(b.Key)) }

// CAFingerprint is the SHA-256 of the CA certificate, hex encoded.
func (b *Bundle) CAFingerprint() (string, error) {
	ca, err := pki.ParseCert([]byte(b.CA))
	if err != nil {
		return "", err
	}
	return Fingerprint(ca), nil
}

// Fingerprint is the hex SHA-256 of a certificate.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// TLSConfig is a client configuration trusting only the bundle's CA and presenting its
// certificate, TLS 1.3 only (the admin listener accepts nothing else).
func (b *Bundle) TLSConfig() (*tls.Config, error) {
	pair, err := tls.X509KeyPair([]byte(b.Cert), []byte(b.Key))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", b.Name, err)
	}
	ca, err := pki.ParseCert([]byte(b.CA))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: CA: %w", b.Name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	host := b.Endpoint
	if h, _, err := splitHost(b.Endpoint); err == nil {
		host = h
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		ServerName:   host,
	}, nil
}

// Expiry returns the client certificate's NotAfter.
func (b *Bundle) Expiry() (time.Time, error) {
	c, err := b.Certificate()
	if err != nil {
		return time.Time{}, err
	}
	return c.NotAfter, nil
}
