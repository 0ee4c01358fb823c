package adminbundle

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
)

// EnrollServerName is the TLS server name a client sends when it enrolls: the admin listener
// accepts a connection without a client certificate only for this name, only while a token is
// outstanding, and then only on the enrollment path.
const EnrollServerName = "enroll.bulwark.invalid"

// tokenPrefix versions the token format.
const tokenPrefix = "bwk1."

// Token is what `bulwark admin enroll` prints: enough for a console to find the appliance,
// pin its CA and prove it was invited.
type Token struct {
	Endpoint      string `json:"e"`
	CAFingerprint string `json:"f"`
	Secret        string `json:"s"` // hex of 32 random bytes; the server keeps only its hash
}

// String encodes the token for printing.
func (t Token) String() string {
	b, _ := json.Marshal(t)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseToken decodes a printed token.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	var t Token
	if !strings.HasPrefix(s, tokenPrefix) {
		return t, errors.New("not an enrollment token (it starts with \"bwk1.\")")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[len(tokenPrefix):])
	if err != nil {
		return t, fmt.Errorf("enrollment token is damaged: %w", err)
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return t, fmt.Errorf("enrollment token is damaged: %w", err)
	}
	if t.Endpoint == "" || len(t.CAFingerprint) != 64 || len(t.Secret) != 64 {
		return t, errors.New("enrollment token is incomplete")
	}
	return t, nil
}

// SecretHash is what the server stores for a token secret.
func SecretHash(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// ErrFingerprint is returned when the appliance's CA does not match the token's fingerprint.
var ErrFingerprint = errors.New("the appliance's CA does not match the fingerprint in the token: refusing to enroll (wrong endpoint or someone in the middle)")

// EnrollTLSConfig is the client configuration for enrollment: no client certificate, and the
// server is trusted only if its chain ends in a CA whose SHA-256 equals the token's pin.
func (t Token) EnrollTLSConfig() *tls.Config {
	host, _, err := splitHost(t.Endpoint)
	if err != nil {
		host = t.Endpoint
	}
	want := strings.ToLower(t.CAFingerprint)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: EnrollServerName,
		// The CA is not known yet, only its fingerprint: verification is done below, by pin.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) < 2 {
				return ErrFingerprint
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return fmt.Errorf("enroll: server certificate: %w", err)
				}
				certs[i] = c
			}
			ca := certs[len(certs)-1]
			if subtle.ConstantTimeCompare([]byte(Fingerprint(ca)), []byte(want)) != 1 {
				return ErrFingerprint
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
			if err != nil {
				return fmt.Errorf("enroll: server certificate does not verify against the pinned CA: %w", err)
			}
			return nil
		},
	}
}

func splitHost(hostport string) (string, string, error) { return net.SplitHostPort(hostport) }
