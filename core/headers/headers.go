// Package headers puts the security headers on every public response: Helmet 8's defaults
// byte for byte, a two-year HSTS, a Permissions-Policy, and a stricter profile. Values are
// computed once when the set is built, so a response costs map assignments, not formatting.
//
// A profile is chosen globally and per path prefix by the operator. Later stages (the router,
// an app's manifest) may switch a request to a stricter profile; switching to a looser one is
// refused unless the operator allowed it (headers.allow_app_loosen). This package does not
// parse or merge individual header values an app writes itself: it works in whole profiles.
package headers

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Names of the built-in profiles, from loosest to strictest.
const (
	Default = "default"
	Strict  = "strict"
)

// Helmet 8's default Content-Security-Policy, byte for byte.
const helmetCSP = "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';" +
	"frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';" +
	"script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"

// strictCSP allows only same-origin subresources, no framing at all, no inline code.
const strictCSP = "default-src 'none';base-uri 'none';connect-src 'self';font-src 'self';" +
	"form-action 'self';frame-ancestors 'none';img-src 'self' data:;manifest-src 'self';" +
	"object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self';" +
	"upgrade-insecure-requests"

// Permissions-Policy: powerful features off; the few a plain site uses stay same-origin.
const defaultPermissions = "accelerometer=(), autoplay=(), camera=(), display-capture=(), " +
	"encrypted-media=(), fullscreen=(self), geolocation=(), gyroscope=(), magnetometer=(), " +
	"microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(self), " +
	"screen-wake-lock=(), sync-xhr=(self), usb=(), xr-spatial-tracking=()"

const strictPermissions = "accelerometer=(), autoplay=(), camera=(), display-capture=(), " +
	"encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), " +
	"microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), " +
	"screen-wake-lock=(), sync-xhr=(), usb=(), xr-spatial-tracking=()"

// HSTS is two years with subdomains: Mozilla's minimum, above Helmet's one year.
const hsts = "max-age=63072000; includeSubDomains"

// removed are response headers that advertise the software; they are deleted from every
// response, whoever set them.
var removed = []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"}

func defaultFields() map[string]string {
	return map[string]string{
		"Content-Security-Policy":           helmetCSP,
		"Cross-Origin-Opener-Policy":        "same-origin",
		"Cross-Origin-Resource-Policy":      "same-origin",
		"Origin-Agent-Cluster":              "?1",
		"Referrer-Policy":                   "no-referrer",
		"Strict-Transport-Security":         hsts,
		"X-Content-Type-Options":            "nosniff",
		"X-Dns-Prefetch-Control":            "off",
		"X-Download-Options":                "noopen",
		"X-Frame-Options":                   "SAMEORIGIN",
		"X-Permitted-Cross-Domain-Policies": "none",
		"X-Xss-Protection":                  "0",
		"Permissions-Policy":                defaultPermissions,
	}
}

func strictFields() map[string]string {
	f := defaultFields()
	f["Content-Security-Policy"] = strictCSP
	f["X-Frame-Options"] = "DENY"
	f["Permissions-Policy"] = strictPermissions
	f["Cross-Origin-Embedder-Policy"] = "require-corp"
	return f
}

// field is one precomputed header: canonical key and value.
type field struct {
	key string
	val string
}

// Profile is a precomputed set of headers.
type Profile struct {
	Name   string
	rank   int // 0 = loosest
	fields []field
	noHSTS []field // the same without Strict-Transport-Security, for plain-HTTP responses
}

func newProfile(name string, rank int, m map[string]string) *Profile {
	p := &Profile{Name: name, rank: rank}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := field{key: http.CanonicalHeaderKey(k), val: m[k]}
		p.fields = append(p.fields, f)
		if f.key != "Strict-Transport-Security" {
			p.noHSTS = append(p.noHSTS, f)
		}
	}
	return p
}

// Profiles returns the built-in profiles by name, freshly built (no shared mutable state).
func Profiles() map[string]*Profile {
	return map[string]*Profile{
		Default: newProfile(Default, 0, defaultFields()),
		Strict:  newProfile(Strict, 1, strictFields()),
	}
}

// Header returns the profile's headers as a fresh http.Header (for tests and the admin API).
func (p *Profile) Header() http.Header {
	h := make(http.Header, len(p.fields))
	for _, f := range p.fields {
		h[f.key] = []string{f.val}
	}
	return h
}

// Stricter reports whether p is at least as strict as q.
func (p *Profile) Stricter(q *Profile) bool { return p.rank >= q.rank }

// apply sets the profile's headers on h, replacing what was there. The values of one
// response share one backing array (one allocation), each slice capped at its own element so
// a later stage's Add or in-place edit never reaches another header or another response.
func (p *Profile) apply(h http.Header, tlsConn bool) {
	fs := p.fields
	if !tlsConn {
		fs = p.noHSTS
	}
	vals := make([]string, len(fs))
	for i, f := range fs {
		vals[i] = f.val
		h[f.key] = vals[i : i+1 : i+1]
	}
}

// Config is what the operator chose.
type Config struct {
	Profile     string            // global profile
	Routes      map[string]string // path prefix ▸ profile; the longest matching prefix wins
	AllowLoosen bool              // apps may pick a looser profile than the operator's
}

type route struct {
	prefix  string
	profile *Profile
}

// Set is the compiled choice of profiles. It is immutable and safe for concurrent use.
type Set struct {
	global      *Profile
	routes      []route // longest prefix first
	profiles    map[string]*Profile
	allowLoosen bool
}

// New compiles c. An unknown profile name is an error naming it.
func New(c Config) (*Set, error) {
	s := &Set{profiles: Profiles(), allowLoosen: c.AllowLoosen}
	name := c.Profile
	if name == "" {
		name = Default
	}
	var ok bool
	if s.global, ok = s.profiles[name]; !ok {
		return nil, fmt.Errorf("headers: unknown profile %q (want %s)", name, s.names())
	}
	for prefix, pn := range c.Routes {
		p, ok := s.profiles[pn]
		if !ok {
			return nil, fmt.Errorf("headers: route %q: unknown profile %q (want %s)", prefix, pn, s.names())
		}
		s.routes = append(s.routes, route{prefix, p})
	}
	sort.Slice(s.routes, func(i, j int) bool {
		if len(s.routes[i].prefix) != len(s.routes[j].prefix) {
			return len(s.routes[i].prefix) > len(s.routes[j].prefix)
		}
		return s.routes[i].prefix < s.routes[j].prefix
	})
	return s, nil
}

func (s *Set) names() string {
	var n []string
	for k := range s.profiles {
		n = append(n, fmt.Sprintf("%q", k))
	}
	sort.Strings(n)
	return strings.Join(n, " or ")
}

// Profile returns the named built-in profile, or nil.
func (s *Set) Profile(name string) *Profile { return s.profiles[name] }

// ForPath returns the operator's profile for a request path.
func (s *Set) ForPath(path string) *Profile {
	for _, r := range s.routes {
		if strings.HasPrefix(path, r.prefix) {
			return r.profile
		}
	}
	return s.global
}
