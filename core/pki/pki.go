// Package pki is the appliance's own certificate authority: it creates the CA once, issues
// the public server certificate, the admin server certificate and client certificates, and
// loads them back. Keys are ECDSA P-256, written 0600, and never overwritten.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside the data folder.
const (
	CACertFile     = "ca.pem"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server.key"
)

// CA is a loaded certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey
}

// Fingerprint is the SHA-256 of the CA certificate, hex encoded.
func (ca *CA) Fingerprint() string {
	s := sha256.Sum256(ca.Cert.Raw)
	return hex.EncodeToString(s[:])
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LoadOrCreateCA loads the CA from dir, creating it if neither file exists. One file without
// the other is an error: a half-present CA is never silently replaced.
func LoadOrCreateCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	switch {
	case errC == nil && errK == nil:
		return LoadCA(dir)
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
	case errC == nil:
		return nil, fmt.Errorf("%s exists but %s is missing: restore the key or remove both to create a new CA", certPath, keyPath)
	case errK == nil:
		return nil, fmt.Errorf("%s exists but %s is missing: restore the certificate or remove both to create a new CA", keyPath, certPath)
	default:
		if errC != nil && !errors.Is(errC, os.ErrNotExist) {
			return nil, errC
		}
		return nil, errK
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          NewSerial(),
		Subject:               pkix.Name{CommonName: "Bulwark appliance CA", Organization: []string{"Bulwark"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := WriteNew(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteNew(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return LoadCA(dir)
}

// LoadCA reads an existing CA.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match %s", keyPath, certPath)
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName string
	OrgUnit    string // role for client certificates
	DNSNames   []string
	IPs        []net.IP
	Client     bool // client authentication instead of server authentication
	Validity   time.Duration
}

// Issue signs a new leaf for a fresh key (or for pub, when given) and returns PEM blocks.
func (ca *CA) Issue(l Leaf) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.Sign(l, &key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = EncodeKey(key)
	return certPEM, keyPEM, err
}

// Sign signs a certificate for pub (used by enrollment, where the key never leaves the client).
func (ca *CA) Sign(l Leaf, pub *ecdsa.PublicKey) ([]byte, error) {
	if l.Validity <= 0 {
		l.Validity = 90 * 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: NewSerial(),
		Subject:      pkix.Name{CommonName: l.CommonName, Organization: []string{"Bulwark"}},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(l.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPs,
	}
	if l.OrgUnit != "" {
		tmpl.Subject.OrganizationalUnit = []string{l.OrgUnit}
	}
	if l.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// EnsureServerCert loads the server certificate pair at certPath/keyPath, issuing a new one
// when none exists or when the existing one expires within renewBefore. An unreadable or
// corrupt existing file is an error naming it, never replaced.
func (ca *CA) EnsureServerCert(certPath, keyPath string, names []string, renewBefore time.Duration) (tls.Certificate, error) {
	certPEM, errC := os.ReadFile(certPath)
	keyPEM, errK := os.ReadFile(keyPath)
	if errC == nil && errK == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%s / %s: %w (fix or remove both files)", certPath, keyPath, err)
		}
		if time.Until(pair.Leaf.NotAfter) > renewBefore {
			return pair, nil
		}
	} else if !(errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist)) {
		if errC != nil && !errors.Is(errC, os.ErrNotExist) {
			return tls.Certificate{}, errC
		}
		if errK != nil && !errors.Is(errK, os.ErrNotExist) {
			return tls.Certificate{}, errK
		}
		return tls.Certificate{}, fmt.Errorf("only one of %s and %s exists: restore it or remove both", certPath, keyPath)
	}
	l := Leaf{CommonName: "bulwark", Validity: 397 * 24 * time.Hour}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			l.IPs = append(l.IPs, ip)
		} else {
			l.DNSNames = append(l.DNSNames, n)
		}
	}
	if len(names) > 0 {
		l.CommonName = names[0]
	}
	certPEM, keyPEM, err := ca.Issue(l)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// NewSerial returns a random 128-bit serial number.
func NewSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// ParseCert decodes the first PEM certificate in b.
func ParseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate found")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// ParseKey decodes an EC private key (SEC 1 or PKCS#8) from PEM.
func ParseKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key found")
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an EC private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA private key")
	}
	return ec, nil
}

// EncodeKey writes key as a PKCS#8 PEM block.
func EncodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteNew creates path with mode, failing if it exists.
func WriteNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteAtomic replaces path with b through a temporary file and rename.
func WriteAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := WriteNew(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
