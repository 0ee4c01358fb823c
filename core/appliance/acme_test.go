package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark/core/pki"
)

// tool finds a binary installed by `make deps` (GOPATH/bin) or on PATH. Missing tools fail the
// test: the suite's promise is that `make test` installs them.
func tool(t *testing.T, name string) string {
	t.Helper()
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(dir, "bin", name); fileExists(p) {
				return p
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s is not installed: run `make deps` (packaging/devdeps.sh installs it with go install)", name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pebble is a running local ACME server with its DNS (pebble-challtestsrv) answering every
// name with 127.0.0.1, so validation really connects to the appliance's listeners.
type pebble struct {
	dir    string // ACME directory URL
	mgmt   string // management base URL (roots)
	caFile string // trust anchor of pebble's own HTTPS (for tls.acme_ca_cert)
	pool   *x509.CertPool
	log    *syncBuffer
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	pebbleBin, challBin := tool(t, "pebble"), tool(t, "pebble-challtestsrv")
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "pebble.pem"), filepath.Join(dir, "pebble.key")
	if _, err := ca.EnsureServerCert(certFile, keyFile, []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	acmePort, mgmtPort, dnsPort, challMgmt := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"keyAlgorithm":                   "ecdsa",
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pebble{
		dir:    fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort),
		mgmt:   fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
		caFile: filepath.Join(dir, pki.CACertFile),
		pool:   ca.Pool(),
		log:    &syncBuffer{},
	}
	run := func(bin string, env []string, args ...string) {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = p.log, p.log
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		t.Cleanup(func() { cancel(); cmd.Wait() })
	}
	dns := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	run(challBin, nil, "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-dnsserver", dns, "-management", fmt.Sprintf("127.0.0.1:%d", challMgmt), "-defaultIPv6", "")
	// Real validation: no PEBBLE_VA_ALWAYS_VALID. NOSLEEP only removes pebble's random delay.
	run(pebbleBin, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "-config", cfgFile, "-dnsserver", dns)
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := cl.Get(p.dir)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v\n%s", err, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// root fetches the root certificate pebble issues under (it is generated at pebble's start).
func (p *pebble) root(t *testing.T) *x509.CertPool {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	res, err := cl.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: %q", b)
	}
	return pool
}

func testACME(t *testing.T, deadTLSPort bool) (logs string, pebbleLog string) {
	domain := "shop.bulwark.test"
	cfg := testConfig(t)
	cfg.TLS.Domains = []string{domain}
	// The ACME directory and its CA are known only after pebble starts, and pebble needs the
	// appliance's ports: bind the ports first, then fill the TLS section, then build.
	httpsL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := httpsL.Addr().(*net.TCPAddr).Port
	if deadTLSPort {
		tlsPort = freePort(t) // nothing listens: tls-alpn-01 fails and autocert falls back to http-01
	}
	p := startPebble(t, httpL.Addr().(*net.TCPAddr).Port, tlsPort)
	cfg.TLS.ACMEDirURL, cfg.TLS.ACMECACert = p.dir, p.caFile
	logBuf := &syncBuffer{}
	a, err := New(cfg, WithLogOutput(logBuf))
	if err != nil {
		t.Fatal(err)
	}
	a.Listeners = map[string]net.Listener{"https": httpsL, "http": httpL}
	if !a.Certs.ACME() {
		t.Fatal("ACME not enabled with tls.domains set")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	roots := p.root(t)
	addr := httpsL.Addr().String()
	var conn *tls.Conn
	deadline := time.Now().Add(90 * time.Second)
	for {
		d := &net.Dialer{Timeout: 60 * time.Second}
		conn, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: domain, RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate from pebble for %s: %v\nappliance log:\n%s\npebble log:\n%s", domain, err, logBuf.String(), p.log.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	if leaf.VerifyHostname(domain) != nil || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Fatalf("served certificate: subject %v issuer %v", leaf.DNSNames, leaf.Issuer)
	}
	// It is the served site, with its headers, over the ACME certificate.
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", domain)
	resp, err := io.ReadAll(conn)
	if err != nil && len(resp) == 0 {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(resp), "HTTP/1.1 200") || !strings.Contains(string(resp), "Strict-Transport-Security: max-age=63072000; includeSubDomains") {
		t.Fatalf("response over the ACME certificate:\n%.600s", resp)
	}
	// The certificate is cached in the data folder for the next start.
	// (autocert writes it right after issuance, possibly from the prefetch goroutine.)
	for i := 0; ; i++ {
		if fileExists(filepath.Join(cfg.Data, "acme", domain)) {
			break
		}
		if i == 100 {
			m, _ := filepath.Glob(filepath.Join(cfg.Data, "acme", "*"))
			t.Fatalf("no cached certificate in %s: %v", filepath.Join(cfg.Data, "acme"), m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Loopback access without the domain still gets the appliance CA's certificate.
	c2, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: a.Certs.CA().Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("CA certificate for 127.0.0.1 alongside ACME: %v", err)
	}
	c2.Close()
	return logBuf.String(), p.log.String()
}

// TestACMEWithTLSALPN obtains a real certificate from a local pebble through tls-alpn-01 on
// the HTTPS listener and serves it.
func TestACMEWithTLSALPN(t *testing.T) {
	logs, plog := testACME(t, false)
	if strings.Contains(logs, "/.well-known/acme-challenge/") {
		t.Fatalf("http-01 used although tls-alpn-01 was reachable:\n%s", logs)
	}
	// pebble logs each HTTP validation attempt and none for TLS-ALPN: a valid authorization
	// without an HTTP attempt was validated over tls-alpn-01 on the HTTPS listener.
	if strings.Contains(plog, "Attempting to validate w/ HTTP") || !strings.Contains(plog, "set VALID") {
		t.Fatalf("pebble did not validate tls-alpn-01:\n%s", plog)
	}
}

// TestACMEWithHTTP01: with pebble's tls-alpn-01 port pointing nowhere, the certificate comes
// through http-01 answered on the plain-HTTP listener.
func TestACMEWithHTTP01(t *testing.T) {
	logs, plog := testACME(t, true)
	if !strings.Contains(logs, `"path":"/.well-known/acme-challenge/`) {
		t.Fatalf("no http-01 challenge request on the HTTP listener:\n%s", logs)
	}
	if !strings.Contains(plog, "Attempting to validate w/ HTTP") {
		t.Fatalf("pebble did not validate http-01:\n%s", plog)
	}
}
