package server

import (
	"crypto/tls"
	"slices"
)

// tls12Suites are the TLS 1.2 cipher suites of Mozilla's "intermediate" profile: ECDHE key
// exchange with AEAD ciphers only (no CBC, no RSA key exchange). TLS 1.3 suites are not
// configurable in Go and are all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns the public listener's TLS configuration around a certificate source.
// CurvePreferences is deliberately left unset so Go's defaults, which include the ML-KEM
// hybrid key exchanges, stay on. extraALPN adds protocols such as "acme-tls/1".
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), extraALPN ...string) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   slices.Clone(tls12Suites),
		GetCertificate: getCert,
		NextProtos:     append([]string{"h2", "http/1.1"}, extraALPN...),
	}
}
