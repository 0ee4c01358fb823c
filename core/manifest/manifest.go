package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// FileName is the manifest's name at the root of an app folder.
const FileName = "app.json"

// MaxFileBytes caps the manifest's size; a real one is a few hundred bytes.
const MaxFileBytes = 64 << 10

// Manifest is a decoded, validated app.json. Zero limits are replaced by defaults.
type Manifest struct {
	Name        string              `json:"name"`
	Entry       string              `json:"entry"`
	Routes      []Route             `json:"routes"`
	Limits      Limits              `json:"limits"`
	Permissions Permissions         `json:"permissions"`
	Env         map[string]EnvValue `json:"env"`
	Schedules   []Schedule          `json:"schedules"`
	Security    Security            `json:"security"`
}

// Permissions are the only capabilities an app gets; absent means denied.
type Permissions struct {
	// Fetch lists the exact host names (optionally host:port) the app may fetch over https.
	Fetch []string `json:"fetch"`
	// KV grants env.KV; nil means the app has no key-value store.
	KV *KVPermission `json:"kv"`
}

// KVPermission grants a key-value namespace with a byte quota.
type KVPermission struct {
	QuotaBytes int `json:"quota_bytes"`
}

// Schedule runs the app's scheduled handler on a cron expression.
type Schedule struct {
	Name string `json:"name"`
	Cron string `json:"cron"`

	parsed *Cron
}

// Parsed returns the validated cron expression (non-nil after Parse succeeded).
func (s Schedule) Parsed() *Cron { return s.parsed }

// Security overrides the appliance's defenses for this app; "" keeps the appliance default.
type Security struct {
	WAF      string `json:"waf"`      // "", "block", "detect", "off"
	CSRF     string `json:"csrf"`     // "", "on", "report", "off"
	Sanitize string `json:"sanitize"` // "", "off", "ugc", "strict": response-side sanitize policy
	Headers  string `json:"headers"`  // "", "default", "strict", "relaxed"
	// ExemptCookies are cookie names the response side must not rewrite (flags) for this app.
	ExemptCookies []string `json:"exempt_cookies"`
	// CSRFExemptPaths are path patterns (like route paths) exempt from the CSRF check, e.g. webhooks.
	CSRFExemptPaths []string `json:"csrf_exempt_paths"`
}

// EnvValue is either a plain string visible to the app or a reference to a secret that the
// supervisor resolves on demand. In app.json: "VALUE" or {"secret": "SECRET_NAME"}.
type EnvValue struct {
	Value  string `json:"value"`
	Secret string `json:"secret"`
}

// IsSecret reports whether the value is a secret reference.
func (v EnvValue) IsSecret() bool { return v.Secret != "" }

// UnmarshalJSON accepts the string shorthand or the object form.
func (v *EnvValue) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*v = EnvValue{}
		return json.Unmarshal(b, &v.Value)
	}
	type plain EnvValue
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*v = EnvValue(p)
	return nil
}

// MarshalJSON writes the shorthand for plain values.
func (v EnvValue) MarshalJSON() ([]byte, error) {
	if v.Secret == "" {
		return json.Marshal(v.Value)
	}
	return json.Marshal(map[string]string{"secret": v.Secret})
}

// Load reads and parses dir/app.json.
func Load(dir string) (*Manifest, error) {
	f, err := os.Open(path.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return Parse(b)
}

// Parse strictly decodes app.json, fills defaults and validates. The error is an *Error (a
// decoding problem) or an Errors (every validation problem), each naming its field.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	if !utf8.Valid(data) {
		return nil, &Error{Msg: "file is not valid UTF-8"}
	}
	pos, err := checkShape(data, reflect.TypeFor[Manifest]())
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		// The shape check catches nearly everything; this is the backstop with the decoder's words.
		e := &Error{Msg: err.Error()}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			e.Field = te.Field
			e.Line, e.Col = lineCol(data, te.Offset)
		}
		return nil, e
	}
	v := validator{data: data, pos: pos}
	m.validate(&v)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return &m, nil
}

type validator struct {
	data []byte
	pos  map[string]int64
	errs Errors
}

func (v *validator) add(field, format string, args ...any) {
	e := &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	// Point at the field itself, or at the nearest enclosing field present in the file.
	for p := field; ; {
		if off, ok := v.pos[p]; ok {
			e.Line, e.Col = lineCol(v.data, off)
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	v.errs = append(v.errs, e)
}

var (
	nameRe   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	cookieRe = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]{1,128}$`)
)

// Maximum counts of list entries, so a manifest cannot make the router or scheduler slow.
const (
	maxRoutes    = 64
	maxFetch     = 64
	maxEnv       = 128
	maxEnvValue  = 8 << 10
	maxSchedules = 32
	maxCookies   = 64
)

func (m *Manifest) validate(v *validator) {
	switch {
	case m.Name == "":
		v.add("name", "is required (lowercase letters, digits and dashes)")
	case !nameRe.MatchString(m.Name):
		v.add("name", "%q must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash", m.Name)
	}
	m.validateEntry(v)
	if len(m.Routes) > maxRoutes {
		v.add("routes", "has %d entries; at most %d", len(m.Routes), maxRoutes)
	}
	for i := range m.Routes {
		m.Routes[i].validate(v, fmt.Sprintf("routes[%d]", i))
	}
	m.Limits.applyDefaults()
	m.Limits.validate(v, "limits")
	m.Permissions.validate(v)
	m.Limits.KVQuotaBytes = 0 // no grant, no store
	if m.Permissions.KV != nil {
		m.Limits.KVQuotaBytes = m.Permissions.KV.QuotaBytes
	}
	if len(m.Env) > maxEnv {
		v.add("env", "has %d entries; at most %d", len(m.Env), maxEnv)
	}
	keys := make([]string, 0, len(m.Env))
	for k := range m.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := m.Env[k]
		f := "env." + k
		switch {
		case !envKeyRe.MatchString(k):
			v.add(f, "name must be letters, digits and underscores, not starting with a digit")
		case k == "KV":
			v.add(f, "KV is reserved for the key-value store (grant it with permissions.kv)")
		}
		switch {
		case val.Secret != "" && val.Value != "":
			v.add(f, "has both a value and a secret reference; pick one")
		case val.Secret != "" && !envKeyRe.MatchString(val.Secret):
			v.add(f+".secret", "secret name %q must be letters, digits and underscores", val.Secret)
		case len(val.Value) > maxEnvValue:
			v.add(f, "value is %d bytes; at most %d", len(val.Value), maxEnvValue)
		}
	}
	if len(m.Schedules) > maxSchedules {
		v.add("schedules", "has %d entries; at most %d", len(m.Schedules), maxSchedules)
	}
	for i := range m.Schedules {
		s := &m.Schedules[i]
		f := fmt.Sprintf("schedules[%d]", i)
		if s.Cron == "" {
			v.add(f+".cron", "is required (5 fields: minute hour day-of-month month day-of-week)")
			continue
		}
		c, err := ParseCron(s.Cron)
		if err != nil {
			v.add(f+".cron", "%v", err)
			continue
		}
		s.parsed = c
		if s.Name == "" {
			s.Name = s.Cron
		}
	}
	m.Security.validate(v)
}

func (m *Manifest) validateEntry(v *validator) {
	e := m.Entry
	if e == "" {
		v.add("entry", "is required (the path of the ES module whose default export has fetch)")
		return
	}
	clean := path.Clean(strings.TrimPrefix(e, "./"))
	switch {
	case strings.Contains(e, "\\") || strings.ContainsRune(e, 0):
		v.add("entry", "%q must be a slash-separated path", e)
	case path.IsAbs(e) || clean == ".." || strings.HasPrefix(clean, "../"):
		v.add("entry", "%q must be a relative path inside the app folder", e)
	default:
		switch path.Ext(clean) {
		case ".js", ".mjs", ".ts", ".mts", ".jsx", ".tsx":
			m.Entry = clean
		default:
			v.add("entry", "%q must be a .js, .mjs, .ts, .mts, .jsx or .tsx file", e)
		}
	}
}

func (p *Permissions) validate(v *validator) {
	if len(p.Fetch) > maxFetch {
		v.add("permissions.fetch", "has %d hosts; at most %d", len(p.Fetch), maxFetch)
	}
	for i, h := range p.Fetch {
		f := fmt.Sprintf("permissions.fetch[%d]", i)
		norm, err := NormalizeFetchHost(h)
		if err != nil {
			v.add(f, "%v", err)
			continue
		}
		p.Fetch[i] = norm
	}
	if p.KV != nil {
		c := Ceilings()
		switch {
		case p.KV.QuotaBytes == 0:
			p.KV.QuotaBytes = Defaults().KVQuotaBytes
		case p.KV.QuotaBytes < 0:
			v.add("permissions.kv.quota_bytes", "must not be negative")
		case p.KV.QuotaBytes > c.KVQuotaBytes:
			v.add("permissions.kv.quota_bytes", "%d is above the ceiling of %d", p.KV.QuotaBytes, c.KVQuotaBytes)
		}
	}
}

func (s *Security) validate(v *validator) {
	oneOf := func(field, val string, allowed ...string) {
		for _, a := range allowed {
			if val == a {
				return
			}
		}
		v.add(field, "unknown value %q (want %s, or leave it out for the appliance default)", val, strings.Join(allowed[1:], ", "))
	}
	oneOf("security.waf", s.WAF, "", "block", "detect", "off")
	oneOf("security.csrf", s.CSRF, "", "on", "report", "off")
	oneOf("security.sanitize", s.Sanitize, "", "off", "ugc", "strict")
	oneOf("security.headers", s.Headers, "", "default", "strict", "relaxed")
	if len(s.ExemptCookies) > maxCookies {
		v.add("security.exempt_cookies", "has %d names; at most %d", len(s.ExemptCookies), maxCookies)
	}
	for i, c := range s.ExemptCookies {
		if !cookieRe.MatchString(c) {
			v.add(fmt.Sprintf("security.exempt_cookies[%d]", i), "%q is not a valid cookie name", c)
		}
	}
	for i, p := range s.CSRFExemptPaths {
		if err := validPathPattern(p); err != nil {
			v.add(fmt.Sprintf("security.csrf_exempt_paths[%d]", i), "%v", err)
		}
	}
}
