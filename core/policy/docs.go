package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"

	"bulwark/core/adminapi"
	"bulwark/core/config"
	"bulwark/core/headers"
	"bulwark/core/manifest"
	"bulwark/core/sanitize"
	"bulwark/core/waf"
)

// WAFPolicy is the part of core/waf the documents drive: modes and exclusions change live.
type WAFPolicy interface {
	SetPolicy(waf.Policy) error
}

// Appliers are the running parts a document change goes to. Any may be nil: the document
// is then validated and saved, and takes effect where the next start reads it.
type Appliers struct {
	Sanitizer *sanitize.Set
	WAF       WAFPolicy                       // nil until the WAF stage is wired
	Headers   func(*headers.Set)              // swaps the global header profiles
	Egress    func(map[string][]string) error // per-app fetch allowlist overrides (core/apps)
}

// ReadOnly serves further documents that are not editable here (the guard section of the
// configuration file); core/admin.ConfigDocs fits.
type ReadOnly interface {
	Names() []string
	Get(ctx context.Context, name string) (json.RawMessage, error)
	Put(ctx context.Context, name string, doc json.RawMessage) error
}

// Docs are the policy documents of the admin API: "html" (named sanitizer whitelists),
// "waf" (mode, paranoia, thresholds, per-path modes, exclusions), "headers" (global
// profile and per-path profiles) and "egress" (per-app fetch allowlist overrides). A PUT
// is decoded strictly, validated as a whole (errors name the field), saved, then applied.
// For waf and headers, keys left out of a PUT keep their current value; html and egress
// documents replace the whole set.
type Docs struct {
	store Store
	app   Appliers
	log   *slog.Logger
	other ReadOnly

	mu       sync.Mutex
	wafCfg   config.WAF     // effective
	running  config.WAF     // what the engine was compiled with (paranoia, thresholds, body limit)
	headers  config.Headers // effective
	egress   map[string][]string
	restarts map[string]string // name → what waits for a restart
}

// NewDocs starts from the configuration file's values, then applies the saved documents
// (a saved document that no longer validates is logged and skipped). wafCfg and hdr are
// the sections the running stages were built from.
func NewDocs(ctx context.Context, store Store, app Appliers, wafCfg config.WAF, hdr config.Headers, other ReadOnly, log *slog.Logger) (*Docs, error) {
	d := &Docs{store: store, app: app, log: log, other: other, wafCfg: wafCfg, running: wafCfg, headers: hdr, egress: map[string][]string{}, restarts: map[string]string{}}
	if d.app.Sanitizer == nil {
		d.app.Sanitizer = sanitize.NewSet()
	}
	saved, err := store.Docs(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(saved))
	for n := range saved {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		commit, _, err := d.prepare(n, saved[n])
		if err != nil {
			log.Warn("policy: saved document refused, the configuration's value stays", "policy", n, "err", err)
			continue
		}
		commit()
	}
	return d, nil
}

// WAFConfig is the effective WAF section (the file's, overlaid by the saved document):
// what whoever builds the WAF stage should compile, so paranoia and thresholds set through
// the API take effect at start.
func (d *Docs) WAFConfig() config.WAF {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wafCfg
}

// SetWAF attaches the running WAF (built after NewDocs, from WAFConfig) so later changes
// apply live, and applies the current policy to it.
func (d *Docs) SetWAF(w WAFPolicy, compiled config.WAF) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.app.WAF, d.running = w, compiled
	d.restarts["waf"] = pendingWAF(d.wafCfg, d.running)
	return w.SetPolicy(waf.PolicyFrom(d.wafCfg))
}

// Pending says what of a document waits for a restart ("" when everything is live).
func (d *Docs) Pending(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts[name]
}

var ownNames = []string{"egress", "headers", "html", "waf"}

// Names lists the documents.
func (d *Docs) Names() []string {
	out := append([]string(nil), ownNames...)
	if d.other != nil {
		for _, n := range d.other.Names() {
			if !contains(ownNames, n) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Get returns a document as JSON.
func (d *Docs) Get(ctx context.Context, name string) (json.RawMessage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch name {
	case "html":
		m := map[string]sanitize.Whitelist{}
		for _, n := range d.app.Sanitizer.Names() {
			if p, ok := d.app.Sanitizer.Get(n); ok {
				m[n] = p.Whitelist()
			}
		}
		return json.Marshal(m)
	case "waf":
		return json.Marshal(wafToDoc(d.wafCfg))
	case "headers":
		return json.Marshal(headersToDoc(d.headers))
	case "egress":
		return json.Marshal(d.egress)
	}
	if d.other != nil && contains(d.other.Names(), name) {
		return d.other.Get(ctx, name)
	}
	return nil, adminapi.Errorf(404, "name", "no policy %q (one of %s)", name, strings.Join(d.Names(), ", "))
}

// Put validates doc, saves it and applies it. by names who changed it (for the store).
func (d *Docs) Put(ctx context.Context, name string, doc json.RawMessage) error {
	if !contains(ownNames, name) {
		if d.other != nil && contains(d.other.Names(), name) {
			return d.other.Put(ctx, name, doc)
		}
		return adminapi.Errorf(404, "name", "no policy %q (one of %s)", name, strings.Join(d.Names(), ", "))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	commit, norm, err := d.prepare(name, doc)
	if err != nil {
		return err
	}
	if err := d.store.putDoc(ctx, name, norm, "admin"); err != nil {
		return err
	}
	commit()
	if p := d.restarts[name]; p != "" {
		d.log.Warn("policy: saved; part of it applies at the next start", "policy", name, "pending", p)
	}
	return nil
}

// strict decodes one JSON value into v, refusing unknown keys and trailing data; errors
// name the key or the position.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return adminapi.Errorf(400, te.Field, "must be %s, got JSON %s", te.Type, te.Value)
		case errors.As(err, &se):
			return adminapi.Errorf(400, "", "malformed JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return adminapi.Errorf(400, f, "unknown key %q", f)
		}
		return adminapi.Errorf(400, "", "malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return adminapi.Errorf(400, "", "unexpected data after the JSON document")
	}
	return nil
}

// prepare validates a document and returns how to apply it (under d.mu) and the form to
// save. Nothing changes until commit runs.
func (d *Docs) prepare(name string, raw []byte) (commit func(), norm []byte, err error) {
	switch name {
	case "html":
		return d.prepareHTML(raw)
	case "waf":
		return d.prepareWAF(raw)
	case "headers":
		return d.prepareHeaders(raw)
	case "egress":
		return d.prepareEgress(raw)
	}
	return nil, nil, adminapi.Errorf(404, "name", "no policy %q", name)
}

func (d *Docs) prepareHTML(raw []byte) (func(), []byte, error) {
	var doc map[string]json.RawMessage
	if err := strict(raw, &doc); err != nil {
		return nil, nil, err
	}
	if doc == nil {
		return nil, nil, adminapi.Errorf(400, "", "the html policy document is an object of named whitelists, e.g. {\"default\": {\"tags\": {...}}}")
	}
	names := make([]string, 0, len(doc))
	for n := range doc {
		names = append(names, n)
	}
	sort.Strings(names)
	lists := map[string]sanitize.Whitelist{}
	for _, n := range names {
		if !policyName.MatchString(n) {
			return nil, nil, adminapi.Errorf(400, n, "policy names are a lower-case letter, then lower-case letters, digits and '-'")
		}
		w, err := sanitize.ParseJSON(n, doc[n])
		if err == nil {
			_, err = sanitize.Compile(n, w)
		}
		if err != nil {
			var pe *sanitize.PolicyError
			if errors.As(err, &pe) {
				if f, ok := strings.CutPrefix(pe.Msg, "json: unknown field "); ok && pe.Field == "json" {
					f = strings.Trim(f, `"`)
					return nil, nil, adminapi.Errorf(400, n+"."+f, "unknown key %q in html policy %q", f, n)
				}
				return nil, nil, adminapi.Errorf(400, n+"."+pe.Field, "%s", pe.Msg)
			}
			return nil, nil, adminapi.Errorf(400, n, "%v", err)
		}
		lists[n] = w
	}
	if len(lists) > 64 {
		return nil, nil, adminapi.Errorf(400, "", "%d html policies; at most 64", len(lists))
	}
	norm, err := json.Marshal(lists)
	if err != nil {
		return nil, nil, err
	}
	set := d.app.Sanitizer
	return func() {
		for _, n := range names {
			if err := set.Put(n, lists[n]); err != nil { // validated above
				d.log.Error("policy html: applying", "policy", n, "err", err)
			}
		}
		if _, ok := lists[sanitize.DefaultName]; !ok {
			set.Put(sanitize.DefaultName, sanitize.DefaultWhitelist())
		}
		for _, n := range set.Names() {
			if _, keep := lists[n]; !keep && n != sanitize.DefaultName {
				set.Delete(n)
			}
		}
	}, norm, nil
}

var policyName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// wafDoc is the WAF section with the configuration file's key names.
type wafDoc struct {
	Mode              string    `json:"mode"`
	Paranoia          int       `json:"paranoia"`
	InboundThreshold  int       `json:"inbound_threshold"`
	OutboundThreshold int       `json:"outbound_threshold"`
	BodyLimit         int64     `json:"body_limit"`
	Paths             []wafPath `json:"paths"`
	Exclusions        []wafExcl `json:"exclusions"`
}

type wafPath struct {
	App    string `json:"app,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Mode   string `json:"mode"`
}

type wafExcl struct {
	App    string `json:"app,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Rules  []int  `json:"rules"`
	Target string `json:"target,omitempty"`
}

func wafToDoc(c config.WAF) wafDoc {
	d := wafDoc{Mode: c.Mode, Paranoia: c.Paranoia, InboundThreshold: c.InboundThreshold, OutboundThreshold: c.OutboundThreshold,
		BodyLimit: c.BodyLimit, Paths: []wafPath{}, Exclusions: []wafExcl{}}
	for _, p := range c.Paths {
		d.Paths = append(d.Paths, wafPath{App: p.App, Prefix: p.Prefix, Mode: p.Mode})
	}
	for _, x := range c.Exclusions {
		d.Exclusions = append(d.Exclusions, wafExcl{App: x.App, Prefix: x.Prefix, Rules: append([]int(nil), x.Rules...), Target: x.Target})
	}
	return d
}

func (w wafDoc) config() config.WAF {
	c := config.WAF{Mode: w.Mode, Paranoia: w.Paranoia, InboundThreshold: w.InboundThreshold, OutboundThreshold: w.OutboundThreshold, BodyLimit: w.BodyLimit}
	for _, p := range w.Paths {
		c.Paths = append(c.Paths, config.WAFPath{App: p.App, Prefix: p.Prefix, Mode: p.Mode})
	}
	for _, x := range w.Exclusions {
		c.Exclusions = append(c.Exclusions, config.WAFExclusion{App: x.App, Prefix: x.Prefix, Rules: x.Rules, Target: x.Target})
	}
	return c
}

// fieldErr turns a config validation error ("waf.exclusions[0].target: ...") into a 400
// naming the field within the document.
func fieldErr(section string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return adminapi.Errorf(400, strings.TrimPrefix(fe.Field, section+"."), "%s", fe.Msg)
	}
	return adminapi.Errorf(400, "", "%v", err)
}

func pendingWAF(want, running config.WAF) string {
	var p []string
	if want.Paranoia != running.Paranoia {
		p = append(p, fmt.Sprintf("paranoia %d (running %d)", want.Paranoia, running.Paranoia))
	}
	if want.InboundThreshold != running.InboundThreshold || want.OutboundThreshold != running.OutboundThreshold {
		p = append(p, "anomaly thresholds")
	}
	if want.BodyLimit != running.BodyLimit {
		p = append(p, "body_limit")
	}
	return strings.Join(p, ", ")
}

func (d *Docs) prepareWAF(raw []byte) (func(), []byte, error) {
	doc := wafToDoc(d.wafCfg) // keys left out keep their value
	if err := strict(raw, &doc); err != nil {
		return nil, nil, err
	}
	c := doc.config()
	if err := c.Validate(); err != nil {
		return nil, nil, fieldErr("waf", err)
	}
	norm, err := json.Marshal(wafToDoc(c))
	if err != nil {
		return nil, nil, err
	}
	w := d.app.WAF
	if w != nil {
		if err := waf.PolicyFrom(c).Validate(); err != nil {
			return nil, nil, fieldErr("waf", err)
		}
	}
	return func() {
		d.wafCfg = c
		if w != nil {
			if err := w.SetPolicy(waf.PolicyFrom(c)); err != nil {
				d.log.Error("policy waf: applying", "err", err)
			}
			d.restarts["waf"] = pendingWAF(c, d.running)
		} else {
			d.restarts["waf"] = "the WAF stage is not running in this appliance; the policy is saved for it"
		}
	}, norm, nil
}

// headersDoc is the headers section with the configuration file's key names.
type headersDoc struct {
	Profile        string        `json:"profile"`
	AllowAppLoosen bool          `json:"allow_app_loosen"`
	Routes         []headerRoute `json:"routes"`
}

type headerRoute struct {
	Prefix  string `json:"prefix"`
	Profile string `json:"profile"`
}

func headersToDoc(h config.Headers) headersDoc {
	d := headersDoc{Profile: h.Profile, AllowAppLoosen: h.AllowAppLoosen, Routes: []headerRoute{}}
	for _, r := range h.Routes {
		d.Routes = append(d.Routes, headerRoute{Prefix: r.Prefix, Profile: r.Profile})
	}
	return d
}

// BuildHeaders compiles a headers section (as core/appliance.New does).
func BuildHeaders(h config.Headers) (*headers.Set, error) {
	routes := map[string]string{}
	for _, r := range h.Routes {
		routes[r.Prefix] = r.Profile
	}
	return headers.New(headers.Config{Profile: h.Profile, Routes: routes, AllowLoosen: h.AllowAppLoosen})
}

func (d *Docs) prepareHeaders(raw []byte) (func(), []byte, error) {
	doc := headersToDoc(d.headers)
	if err := strict(raw, &doc); err != nil {
		return nil, nil, err
	}
	h := config.Headers{Profile: doc.Profile, AllowAppLoosen: doc.AllowAppLoosen}
	if h.Profile != "default" && h.Profile != "strict" {
		return nil, nil, adminapi.Errorf(400, "profile", "unknown profile %q (want \"default\" or \"strict\")", h.Profile)
	}
	seen := map[string]bool{}
	for i, r := range doc.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if !strings.HasPrefix(r.Prefix, "/") {
			return nil, nil, adminapi.Errorf(400, f+".prefix", "must start with \"/\", got %q", r.Prefix)
		}
		if seen[r.Prefix] {
			return nil, nil, adminapi.Errorf(400, f+".prefix", "%q is listed twice", r.Prefix)
		}
		seen[r.Prefix] = true
		if r.Profile != "default" && r.Profile != "strict" {
			return nil, nil, adminapi.Errorf(400, f+".profile", "unknown profile %q (want \"default\" or \"strict\")", r.Profile)
		}
		h.Routes = append(h.Routes, config.HeadersRoute{Prefix: r.Prefix, Profile: r.Profile})
	}
	set, err := BuildHeaders(h)
	if err != nil {
		return nil, nil, adminapi.Errorf(400, "profile", "%v", err)
	}
	norm, err := json.Marshal(headersToDoc(h))
	if err != nil {
		return nil, nil, err
	}
	return func() {
		d.headers = h
		if d.app.Headers != nil {
			d.app.Headers(set)
			d.restarts["headers"] = ""
		} else {
			d.restarts["headers"] = "the headers stage is fixed in this appliance; the profile is saved for the next start"
		}
	}, norm, nil
}

// Headers is the effective headers section (the file's, overlaid by the saved document).
func (d *Docs) Headers() config.Headers {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.headers
}

// Egress returns the per-app fetch allowlist overrides.
func (d *Docs) Egress() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]string, len(d.egress))
	for k, v := range d.egress {
		out[k] = append([]string{}, v...)
	}
	return out
}

var appName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

func (d *Docs) prepareEgress(raw []byte) (func(), []byte, error) {
	var doc map[string][]string
	if err := strict(raw, &doc); err != nil {
		return nil, nil, err
	}
	if doc == nil {
		doc = map[string][]string{}
	}
	out := make(map[string][]string, len(doc))
	for app, hosts := range doc {
		if !appName.MatchString(app) {
			return nil, nil, adminapi.Errorf(400, app, "%q is not an app name (lower-case letters, digits and '-')", app)
		}
		if len(hosts) > 64 {
			return nil, nil, adminapi.Errorf(400, app, "has %d hosts; at most 64", len(hosts))
		}
		list := []string{}
		for i, h := range hosts {
			n, err := manifest.NormalizeFetchHost(h)
			if err != nil {
				return nil, nil, adminapi.Errorf(400, fmt.Sprintf("%s[%d]", app, i), "%v", err)
			}
			list = append(list, n)
		}
		out[app] = list
	}
	norm, err := json.Marshal(out)
	if err != nil {
		return nil, nil, err
	}
	if d.app.Egress != nil {
		// Applying is the check core/apps makes (an unknown app, say); nothing is saved on refusal.
		if err := d.app.Egress(out); err != nil {
			return nil, nil, adminapi.Errorf(http.StatusUnprocessableEntity, "", "%v", err)
		}
	}
	return func() {
		d.egress = out
		if d.app.Egress == nil {
			d.restarts["egress"] = "app fetch allowlists are not overridable in this appliance yet; the overrides are saved"
		}
	}, norm, nil
}
