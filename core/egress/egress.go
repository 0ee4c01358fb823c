package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/idna"
)

// Rules a Denied error names; stable strings for events.
const (
	RuleScheme      = "scheme"          // not https
	RuleUserinfo    = "userinfo"        // user:pass@ in the URL
	RuleIPLiteral   = "ip_literal"      // an IP address or numeric host instead of a name
	RuleHostName    = "host_name"       // malformed, trailing dot, bad IDN
	RuleNotAllowed  = "not_allowed"     // host:port not in permissions.fetch
	RuleAddress     = "blocked_address" // resolved to a non-public address
	RuleRedirects   = "redirects"       // too many redirects, or redirect refused by mode
	RuleSubrequests = "subrequests"     // per-request fetch count exceeded
	RuleBodySize    = "body_size"       // request or response body too large
	RuleMethod      = "method"          // CONNECT, TRACE, TRACK or malformed
)

// Denied is a fetch the policy refused. Its text is safe to show to the app.
type Denied struct {
	Rule   string // one of the Rule* constants
	URL    string // the URL refused (without query, to keep secrets out of events)
	Detail string
}

func (d *Denied) Error() string {
	return fmt.Sprintf("egress denied (%s): %s: %s", d.Rule, d.URL, d.Detail)
}

// Policy is one app's egress permissions and caps. Zero caps take the defaults.
type Policy struct {
	Allow          []string      // manifest permissions.fetch entries: "host" (port 443) or "host:port"
	Subrequests    int           // fetches per incoming request (default 16)
	Concurrency    int           // fetches in flight per incoming request (default 4)
	MaxBodyBytes   int64         // response body cap (default 4 MiB)
	MaxSendBytes   int64         // request body cap (default 4 MiB)
	Timeout        time.Duration // per fetch, redirects included (default 10 s)
	MaxRedirects   int           // default 5
	MaxHeaderBytes int64         // response header cap (default 64 KiB)
}

// Resolver looks up a host's addresses; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options are the client's dependencies; tests inject them.
type Options struct {
	Resolver Resolver       // default net.DefaultResolver
	RootCAs  *x509.CertPool // default: the system roots
	// AllowPrefixesForTesting exempts addresses from the public-address check. Only tests
	// set it, so a loopback TLS server can stand in for an allowed public host.
	AllowPrefixesForTesting []netip.Prefix
}

// Client performs one app's fetches. Safe for concurrent use; make one per app version.
type Client struct {
	policy Policy
	allow  map[string]bool // "host:port"
	opts   Options
	http   *http.Client
}

// New builds a client for policy. Allow entries are normalized; a malformed one is an error.
func New(p Policy, o Options) (*Client, error) {
	if p.Subrequests <= 0 {
		p.Subrequests = 16
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 4
	}
	if p.MaxBodyBytes <= 0 {
		p.MaxBodyBytes = 4 << 20
	}
	if p.MaxSendBytes <= 0 {
		p.MaxSendBytes = 4 << 20
	}
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.MaxRedirects <= 0 {
		p.MaxRedirects = 5
	}
	if p.MaxHeaderBytes <= 0 {
		p.MaxHeaderBytes = 64 << 10
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	c := &Client{policy: p, allow: map[string]bool{}, opts: o}
	for _, e := range p.Allow {
		host, port, err := splitEntry(e)
		if err != nil {
			return nil, fmt.Errorf("egress: allow entry %q: %w", e, err)
		}
		c.allow[net.JoinHostPort(host, port)] = true
	}
	dialer := &net.Dialer{Timeout: p.Timeout, Control: c.control}
	tr := &http.Transport{
		Proxy: nil, // never an environment proxy: it would bypass the address check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.dial(ctx, dialer, network, addr)
		},
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		TLSHandshakeTimeout:    p.Timeout,
		ResponseHeaderTimeout:  p.Timeout,
		MaxResponseHeaderBytes: p.MaxHeaderBytes,
		DisableCompression:     true, // bodies reach the app as sent; no decompression bombs here
	}
	c.http = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func splitEntry(e string) (host, port string, err error) {
	host, port = strings.ToLower(e), "443"
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	h, err := canonicalHost(host)
	if err != nil {
		return "", "", err
	}
	return h, strconv.Itoa(n), nil
}

// canonicalHost lowercases and converts IDN to ASCII, refusing anything that is not a plain
// DNS name: IP literals, numeric hosts (2130706433, 0x7f.1, 127.1), trailing dots.
func canonicalHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if strings.HasPrefix(h, "[") || strings.Contains(h, ":") {
		return "", &Denied{Rule: RuleIPLiteral, Detail: "IP literals are not allowed"}
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return "", &Denied{Rule: RuleIPLiteral, Detail: "IP literals are not allowed"}
	}
	if strings.HasSuffix(h, ".") || strings.HasSuffix(h, "\u3002") {
		return "", &Denied{Rule: RuleHostName, Detail: "host names with a trailing dot are not allowed"}
	}
	a, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", &Denied{Rule: RuleHostName, Detail: "invalid host name: " + err.Error()}
	}
	a = strings.ToLower(a)
	labels := strings.Split(a, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", &Denied{Rule: RuleHostName, Detail: "invalid host name"}
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", &Denied{Rule: RuleHostName, Detail: "invalid character in host name"}
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return "", &Denied{Rule: RuleIPLiteral, Detail: "numeric host names are not allowed"}
	}
	return a, nil
}

// check validates a URL against the policy and returns it normalized.
func (c *Client) check(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &Denied{Rule: RuleHostName, URL: redact(raw), Detail: "malformed URL"}
	}
	shown := redactURL(u)
	deny := func(rule, detail string) error { return &Denied{Rule: rule, URL: shown, Detail: detail} }
	if u.Scheme != "https" {
		return nil, deny(RuleScheme, "only https is allowed")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, deny(RuleUserinfo, "credentials in the URL are not allowed")
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, deny(RuleHostName, "the URL has no host")
	}
	hostname, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return nil, deny(RuleNotAllowed, "invalid port")
	}
	h, err := canonicalHost(strings.ToLower(hostname))
	if err != nil {
		var d *Denied
		if errors.As(err, &d) {
			d.URL = shown
			return nil, d
		}
		return nil, deny(RuleHostName, err.Error())
	}
	if !c.allow[net.JoinHostPort(h, port)] {
		return nil, deny(RuleNotAllowed, fmt.Sprintf("%s is not in permissions.fetch", net.JoinHostPort(h, port)))
	}
	out := *u
	if port == "443" {
		out.Host = h
	} else {
		out.Host = net.JoinHostPort(h, port)
	}
	return &out, nil
}

func redact(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func redactURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return redact(v.String())
}

// control runs after the socket is made and before it connects: the last word on the address.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Denied{Rule: RuleAddress, URL: address, Detail: "unparseable address"}
	}
	if !c.permitted(ap.Addr()) {
		return &Denied{Rule: RuleAddress, URL: address, Detail: "the host resolves to a non-public address"}
	}
	return nil
}

func (c *Client) permitted(a netip.Addr) bool {
	for _, p := range c.opts.AllowPrefixesForTesting {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return Public(a)
}

// dial resolves with the injected resolver and dials each address in turn; Control vets each.
func (c *Client) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := c.opts.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	var firstErr error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), mustPort(port)).String())
		if err == nil {
			return conn, nil
		}
		var dn *Denied
		if errors.As(err, &dn) {
			dn.URL = host
			return nil, dn // one bad address taints the name: no falling through to the next
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("resolve %s: no addresses", host)
	}
	return nil, firstErr
}

func mustPort(p string) uint16 {
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

// Request is one outgoing fetch.
type Request struct {
	Method   string
	URL      string
	Header   http.Header
	Body     []byte
	Redirect string // "follow" (default), "manual" or "error"
}

// Response is what came back, body read in full within the cap.
type Response struct {
	Status     int
	StatusText string
	Header     http.Header
	Body       []byte
	URL        string // final URL
	Redirected bool
}

// Session counts one incoming request's fetches. Make one per incoming request.
type Session struct {
	c       *Client
	mu      sync.Mutex
	n       int
	sema    chan struct{}
	maxBody int64 // tighter response cap for this session, when positive
}

// Session starts the accounting for one incoming request.
func (c *Client) Session() *Session {
	return &Session{c: c, sema: make(chan struct{}, c.policy.Concurrency)}
}

// Count is how many fetches the session has started.
func (s *Session) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// hop-by-hop and connection-steering headers an app may not set.
var dropHeaders = []string{"Host", "Connection", "Proxy-Connection", "Proxy-Authorization", "Keep-Alive",
	"Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length", "Expect"}

// Do performs one fetch under the policy.
func (s *Session) Do(ctx context.Context, r Request) (*Response, error) {
	c := s.c
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	switch method {
	case "CONNECT", "TRACE", "TRACK":
		return nil, &Denied{Rule: RuleMethod, URL: redact(r.URL), Detail: method + " is not allowed"}
	}
	u, err := c.check(r.URL)
	if err != nil {
		return nil, err
	}
	if int64(len(r.Body)) > c.policy.MaxSendBytes {
		return nil, &Denied{Rule: RuleBodySize, URL: redactURL(u), Detail: fmt.Sprintf("request body is over %d bytes", c.policy.MaxSendBytes)}
	}
	s.mu.Lock()
	s.n++
	over := s.n > c.policy.Subrequests
	s.mu.Unlock()
	if over {
		return nil, &Denied{Rule: RuleSubrequests, URL: redactURL(u), Detail: fmt.Sprintf("more than %d fetches in one request", c.policy.Subrequests)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.policy.Timeout)
	defer cancel()
	select {
	case s.sema <- struct{}{}:
		defer func() { <-s.sema }()
	case <-ctx.Done():
		return nil, fmt.Errorf("egress: waiting for a fetch slot: %w", ctx.Err())
	}

	header := r.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	for _, h := range dropHeaders {
		header.Del(h)
	}
	body := r.Body
	redirected := false
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, &Denied{Rule: RuleHostName, URL: redactURL(u), Detail: "malformed request"}
		}
		req.Header = header
		if len(body) == 0 {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		resp, err := c.http.Do(req)
		if err != nil {
			var dn *Denied
			if errors.As(err, &dn) {
				return nil, dn
			}
			return nil, fmt.Errorf("egress: fetch %s: %w", redactURL(u), unwrapURLError(err))
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" && r.Redirect != "manual" {
			resp.Body.Close()
			if r.Redirect == "error" {
				return nil, &Denied{Rule: RuleRedirects, URL: redactURL(u), Detail: "redirect refused (redirect: error)"}
			}
			if hop+1 > c.policy.MaxRedirects {
				return nil, &Denied{Rule: RuleRedirects, URL: redactURL(u), Detail: fmt.Sprintf("more than %d redirects", c.policy.MaxRedirects)}
			}
			next, err := u.Parse(loc)
			if err != nil {
				return nil, &Denied{Rule: RuleRedirects, URL: redactURL(u), Detail: "malformed Location"}
			}
			nu, err := c.check(next.String())
			if err != nil {
				return nil, err // each hop is checked like the first request
			}
			if nu.Host != u.Host {
				for _, h := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
					header.Del(h)
				}
			}
			if resp.StatusCode == 303 || (resp.StatusCode == 301 || resp.StatusCode == 302) && method == http.MethodPost {
				method, body = http.MethodGet, nil
				header.Del("Content-Type")
			}
			u, redirected = nu, true
			continue
		}
		defer resp.Body.Close()
		limit := c.policy.MaxBodyBytes
		if s.maxBody > 0 && s.maxBody < limit {
			limit = s.maxBody
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("egress: read %s: %w", redactURL(u), unwrapURLError(err))
		}
		if int64(len(data)) > limit {
			return nil, &Denied{Rule: RuleBodySize, URL: redactURL(u), Detail: fmt.Sprintf("response body is over %d bytes", limit)}
		}
		return &Response{Status: resp.StatusCode, StatusText: strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
			Header: resp.Header, Body: data, URL: u.String(), Redirected: redirected}, nil
	}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
