package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Route selects requests for an app by host and/or path pattern.
//
// Host: "" (any host), "example.com" (exact) or "*.example.com" (any subdomain, not the apex).
// Path: "" or "/*" (everything), "/exact", or "/prefix/*" (the prefix itself and below it).
// In app.json a route is an object {"host": ..., "path": ...} or a string shorthand:
// "example.com/api/*", "/api/*" or "example.com".
type Route struct {
	Host string `json:"host"`
	Path string `json:"path"`
}

// UnmarshalJSON accepts the string shorthand or the object form.
func (r *Route) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = Route{}
		if i := strings.IndexByte(s, '/'); i >= 0 {
			r.Host, r.Path = s[:i], s[i:]
		} else {
			r.Host = s
		}
		return nil
	}
	type plain Route
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*r = Route(p)
	return nil
}

// String is the shorthand form of the route.
func (r Route) String() string {
	if r.Path == "" {
		if r.Host == "" {
			return "/*"
		}
		return r.Host
	}
	return r.Host + r.Path
}

func (r *Route) validate(v *validator, field string) {
	if r.Host == "" && r.Path == "" {
		v.add(field, "needs a host, a path, or both")
		return
	}
	if r.Host != "" {
		h := strings.ToLower(r.Host)
		name := strings.TrimPrefix(h, "*.")
		if err := validDNSName(name); err != nil {
			v.add(field+".host", "%q: %v", r.Host, err)
		} else {
			r.Host = h
		}
	}
	if r.Path != "" {
		if err := validPathPattern(r.Path); err != nil {
			v.add(field+".path", "%v", err)
		}
	}
}

func validPathPattern(p string) error {
	switch {
	case p == "" || p[0] != '/':
		return fmt.Errorf("path pattern %q must start with /", p)
	case len(p) > 1024:
		return fmt.Errorf("path pattern is longer than 1024 bytes")
	case strings.ContainsAny(p, "?#\\ \t\r\n") || strings.ContainsRune(p, 0):
		return fmt.Errorf("path pattern %q must not contain ?, #, backslashes or spaces", p)
	case strings.Contains(strings.TrimSuffix(p, "/*"), "*"):
		return fmt.Errorf("path pattern %q may only end in /* (a prefix), not contain * elsewhere", p)
	case strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/./"):
		return fmt.Errorf("path pattern %q must not contain dot segments", p)
	}
	return nil
}

// MatchHost reports whether host (as sent by a client; port and trailing dot ignored,
// case-insensitive) matches the route's host pattern.
func (r Route) MatchHost(host string) bool {
	if r.Host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if suffix, ok := strings.CutPrefix(r.Host, "*"); ok {
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return host == r.Host
}

// MatchPath reports whether the (already cleaned) request path matches the route's path pattern.
func (r Route) MatchPath(p string) bool {
	switch {
	case r.Path == "" || r.Path == "/*":
		return true
	case strings.HasSuffix(r.Path, "/*"):
		prefix := strings.TrimSuffix(r.Path, "/*")
		return p == prefix || strings.HasPrefix(p, prefix+"/")
	}
	return p == r.Path
}

// Match reports whether the route selects a request for host and path.
func (r Route) Match(host, path string) bool { return r.MatchHost(host) && r.MatchPath(path) }

// Specificity orders routes so the router can try the most specific first: exact host before
// wildcard before any, then longer paths, exact paths before prefixes.
func (r Route) Specificity() int {
	s := 0
	switch {
	case r.Host == "":
	case strings.HasPrefix(r.Host, "*."):
		s += 1 << 20
	default:
		s += 2 << 20
	}
	p := strings.TrimSuffix(r.Path, "/*")
	s += len(p) * 2
	if r.Path != "" && !strings.HasSuffix(r.Path, "/*") {
		s++
	}
	return s
}

func validDNSName(h string) error {
	if h == "" {
		return fmt.Errorf("empty host name")
	}
	if len(h) > 253 {
		return fmt.Errorf("host name longer than 253 bytes")
	}
	if strings.HasSuffix(h, ".") {
		return fmt.Errorf("write the host name without a trailing dot")
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return fmt.Errorf("IP addresses are not allowed; use a host name")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q must be 1-63 characters", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(l)-1
			if !ok {
				if c >= 0x80 {
					return fmt.Errorf("non-ASCII host name; write it in punycode (xn--...)")
				}
				return fmt.Errorf("invalid character %q in label %q", c, l)
			}
		}
	}
	// A name that is all digits and dots is an IPv4 address in some notation (0x7f.1, 2130706433).
	if last := labels[len(labels)-1]; strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("numeric host names are not allowed; use a real DNS name")
	}
	return nil
}

// NormalizeFetchHost validates one permissions.fetch entry and returns its canonical form:
// a lowercase ASCII DNS name, with ":port" only when the port is not 443. Entries are exact
// hosts: no scheme, userinfo, path, wildcard, IP literal or trailing dot.
func NormalizeFetchHost(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty host")
	}
	if strings.Contains(s, "://") {
		return "", fmt.Errorf("%q: write the host only, without a scheme (https is implied)", s)
	}
	if strings.ContainsAny(s, "@/?#\\ ") {
		return "", fmt.Errorf("%q: write the host only, without userinfo, path or query", s)
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%q: wildcards are not allowed; list each host exactly", s)
	}
	host, port := strings.ToLower(s), ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return "", fmt.Errorf("%q: invalid port %q", s, p)
		}
		host = h
		if n != 443 {
			port = p
		}
	}
	if err := validDNSName(host); err != nil {
		return "", fmt.Errorf("%q: %v", s, err)
	}
	if !strings.Contains(host, ".") {
		return "", fmt.Errorf("%q: a fetch host must be a fully qualified name", s)
	}
	if port != "" {
		return host + ":" + port, nil
	}
	return host, nil
}
