package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/event"
	"bulwark/ui/source"
)

// This file adapts core/adminclient (the typed admin API client the CLI also uses) to the
// console's source.Appliance, so ui/ never reaches the network and core/ never knows ui/.

// kindError carries both the console's error kind and the client's own error.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// wrap maps the client's error kinds onto the console's; a refusal naming a field becomes
// a source.FieldError so the console shows it beside that field.
func wrap(err error) error {
	var re *adminclient.RequestError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re) && re.Field != "":
		return &kindError{&source.FieldError{Field: re.Field, Message: re.Message}, err}
	case errors.Is(err, adminclient.ErrCertificate):
		return &kindError{source.ErrRefused, err}
	case errors.Is(err, adminclient.ErrUnreachable):
		return &kindError{source.ErrUnreachable, err}
	}
	return err
}

// connector opens real appliances.
type connector struct{}

func toSource(b *adminbundle.Bundle) source.Bundle {
	return source.Bundle{Name: b.Name, Addr: b.Endpoint, CAPEM: b.CA, CertPEM: b.Cert, KeyPEM: b.Key}
}

func fromSource(b source.Bundle) *adminbundle.Bundle {
	return &adminbundle.Bundle{Version: 1, Name: b.Name, Role: adminbundle.RoleAdmin, Endpoint: b.Addr, CA: b.CAPEM, Cert: b.CertPEM, Key: b.KeyPEM}
}

func (connector) ParseBundle(data []byte) (source.Bundle, error) {
	b, err := adminbundle.Parse(data)
	if err != nil {
		return source.Bundle{}, err
	}
	return toSource(b), nil
}

func (connector) Enroll(ctx context.Context, token string) (source.Bundle, error) {
	b, err := adminclient.Enroll(ctx, token)
	if err != nil {
		return source.Bundle{}, wrap(err)
	}
	return toSource(b), nil
}

func (connector) Open(ctx context.Context, b source.Bundle) (source.Appliance, error) {
	c, err := adminclient.New(fromSource(b))
	if err != nil {
		return nil, err
	}
	if _, err := c.Status(ctx); err != nil {
		c.Close()
		return nil, wrap(err)
	}
	return newRemote(c), nil
}

func newRemote(c *adminclient.Client) *remote {
	return &remote{c: c, cursors: map[string][]string{}, rules: map[string]adminapi.Rule{}, channels: map[string]adminapi.Channel{}}
}

// remote is one connected appliance.
type remote struct {
	c *adminclient.Client

	mu      sync.Mutex
	cursors map[string][]string // filter → cursor of page i (page 0 has "")
	// The documents as last listed, by name: a save overlays what the console edits on
	// them, so fields it does not show (a rule's match.app, a mail timeout) are kept.
	rules    map[string]adminapi.Rule
	channels map[string]adminapi.Channel
	limits   map[string]json.RawMessage
}

func (r *remote) Close() error { r.c.Close(); return nil }

func (r *remote) Status(ctx context.Context) (source.Status, error) {
	st, err := r.c.Status(ctx)
	if err != nil {
		return source.Status{}, wrap(err)
	}
	var drops int64
	for _, n := range st.EventDrops {
		drops += int64(n)
	}
	return source.Status{Name: st.Client.Name, Version: st.Version, Uptime: time.Duration(st.UptimeSeconds * float64(time.Second)), EventsDropped: drops}, nil
}

func apiFilter(f source.EventFilter) adminapi.EventFilter {
	return adminapi.EventFilter{Since: f.Since, Until: f.Until, Kind: string(f.Kind), Severity: string(f.Severity),
		Action: string(f.Action), IP: f.IP, App: f.App, Rule: f.Rule, Text: f.Text, Limit: f.Limit}
}

// Events pages by cursor: it remembers each page's cursor per filter, and walks forward
// from the nearest known page when asked for one it has not seen. The appliance counts
// the whole listing on its first page and every page carries that Total.
func (r *remote) Events(ctx context.Context, f source.EventFilter) (source.EventPage, error) {
	lim := max(f.Limit, 1)
	page := f.Offset / lim
	af := apiFilter(f)
	key := fmt.Sprint(af)
	r.mu.Lock()
	cur := append([]string(nil), r.cursors[key]...)
	r.mu.Unlock()
	if len(cur) == 0 {
		cur = []string{""} // page 0 starts without a cursor
	}
	for i := min(page, len(cur)-1); ; i++ {
		af.Cursor = cur[i]
		p, err := r.c.Events(ctx, af)
		if err != nil {
			return source.EventPage{}, wrap(err)
		}
		if p.Next != "" && i+1 == len(cur) {
			cur = append(cur, p.Next)
		}
		if i == page || p.Next == "" {
			r.mu.Lock()
			r.cursors[key] = cur
			r.mu.Unlock()
			out := source.EventPage{Events: p.Events, Total: int(p.Total), TotalCapped: p.TotalCapped, More: p.Next != ""}
			if seen := i*lim + len(p.Events); p.Total == 0 && seen > 0 {
				// An appliance from before totals: what the pages so far showed, as a floor.
				out.Total, out.TotalCapped = seen, p.Next != ""
			}
			return out, nil
		}
		if i > 1000 {
			return source.EventPage{}, errors.New("too many pages: narrow the filter")
		}
	}
}

func (r *remote) Stats(ctx context.Context, since time.Time, bucket time.Duration) ([]source.StatBucket, error) {
	bs, err := r.c.Stats(ctx, adminapi.EventFilter{Since: since}, bucket)
	if err != nil {
		return nil, wrap(err)
	}
	var out []source.StatBucket
	for _, b := range bs {
		for k, n := range b.ByKind {
			out = append(out, source.StatBucket{Start: b.TS, Kind: event.Kind(k), Count: int(n)})
		}
		out = append(out, source.StatBucket{Start: b.TS, Blocked: int(b.Blocked)})
	}
	return out, nil
}

func (r *remote) Top(ctx context.Context, what source.TopKind, since time.Time, n int) ([]source.TopEntry, error) {
	ts, err := r.c.Top(ctx, adminapi.EventFilter{Since: since}, string(what), n)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.TopEntry, len(ts))
	for i, t := range ts {
		out[i] = source.TopEntry{Value: t.Key, Count: int(t.Count)}
	}
	return out, nil
}

func (r *remote) Stream(ctx context.Context) (<-chan event.Event, error) {
	ch := make(chan event.Event, 256)
	go func() {
		defer close(ch)
		_ = r.c.Stream(ctx, adminapi.EventFilter{}, 0, func(se adminapi.StreamEvent) error {
			select {
			case ch <- se.Event:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	return ch, nil
}

func (r *remote) Access(ctx context.Context) (source.AccessLists, error) {
	var out source.AccessLists
	for _, l := range []source.List{source.Allowlist, source.Denylist} {
		es, err := r.c.Access(ctx, string(l))
		if err != nil {
			return out, wrap(err)
		}
		for _, e := range es {
			se := source.AccessEntry{CIDR: e.CIDR, Note: e.Note, Added: e.Created}
			if l == source.Allowlist {
				out.Allow = append(out.Allow, se)
			} else {
				out.Deny = append(out.Deny, se)
			}
		}
	}
	bans, err := r.c.Bans(ctx)
	if err != nil {
		return out, wrap(err)
	}
	for _, b := range bans {
		until := b.Until
		if until.IsZero() {
			until = time.Now().AddDate(100, 0, 0)
		}
		out.Bans = append(out.Bans, source.BanEntry{IP: b.IP, Reason: b.Reason, Until: until})
	}
	return out, nil
}

func (r *remote) AddAccess(ctx context.Context, l source.List, cidr, note string) error {
	return wrap(r.c.AccessAdd(ctx, string(l), cidr, note))
}

func (r *remote) RemoveAccess(ctx context.Context, l source.List, cidr string) error {
	return wrap(r.c.AccessRemove(ctx, string(l), cidr))
}

func (r *remote) Ban(ctx context.Context, ip string, d time.Duration, reason string) error {
	_, err := r.c.Ban(ctx, ip, d.String(), reason)
	return wrap(err)
}

func (r *remote) Unban(ctx context.Context, ip string) error { return wrap(r.c.Unban(ctx, ip)) }

// apiLimits is the subset of core/manifest.Limits the console edits (bytes on the wire).
type apiLimits struct {
	MemoryMB          int `json:"memory_mb"`
	CPUMs             int `json:"cpu_ms"`
	WallMs            int `json:"wall_ms"`
	Workers           int `json:"workers"`
	Concurrency       int `json:"concurrency"`
	RequestBodyBytes  int `json:"request_body_bytes"`
	ResponseBodyBytes int `json:"response_body_bytes"`
	Subrequests       int `json:"subrequests"`
}

func (r *remote) Apps(ctx context.Context) ([]source.App, error) {
	as, err := r.c.Apps(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.App, len(as))
	r.mu.Lock()
	r.limits = map[string]json.RawMessage{}
	for _, a := range as {
		r.limits[a.Name] = a.Limits
	}
	r.mu.Unlock()
	since := time.Now().Add(-time.Hour)
	for i, a := range as {
		var l apiLimits
		_ = json.Unmarshal(a.Limits, &l)
		status := "disabled"
		if a.Enabled {
			status = fmt.Sprintf("running (%d workers)", a.Workers)
		}
		out[i] = source.App{Name: a.Name, Version: a.Version, Enabled: a.Enabled, Status: status, Routes: a.Routes,
			Requests: -1, Errors: -1, Blocked: -1,
			Limits: source.Limits{MemoryMB: l.MemoryMB, CPUMs: l.CPUMs, WallMs: l.WallMs, Workers: l.Workers, Concurrency: l.Concurrency,
				RequestBodyKB: l.RequestBodyBytes >> 10, ResponseBodyKB: l.ResponseBodyBytes >> 10, Subrequests: l.Subrequests}}
		if c := a.LastHour; c != nil {
			out[i].Requests, out[i].Errors, out[i].Blocked = c.Requests, c.Errors, c.Blocked
			continue
		}
		// An older appliance without per-app counters: stats and top do not filter by app;
		// one capped page of the app's blocked events does (a count above the cap shows as the cap).
		if p, err := r.c.Events(ctx, adminapi.EventFilter{Since: since, App: a.Name, Action: string(event.Blocked), Limit: adminapi.MaxLimit}); err == nil {
			out[i].Blocked = int64(len(p.Events))
		}
	}
	return out, nil
}

// Deploy packs a folder into a tar.gz (or sends an archive as it is) and uploads it.
func (r *remote) Deploy(ctx context.Context, path string, progress func(source.DeployStep)) (source.App, error) {
	progress(source.DeployStep{Step: "pack", Fraction: 0.05, Message: "packing " + path})
	data, err := packApp(path)
	if err != nil {
		return source.App{}, err
	}
	progress(source.DeployStep{Step: "upload", Fraction: 0.3, Message: fmt.Sprintf("uploading %d KB; the appliance bundles and checks it", len(data)>>10)})
	a, err := r.c.Deploy(ctx, data)
	if err != nil {
		return source.App{}, wrap(err)
	}
	progress(source.DeployStep{Step: "done", Fraction: 1, Message: "deployed"})
	return source.App{Name: a.Name, Version: a.Version, Enabled: a.Enabled, Routes: a.Routes}, nil
}

// maxArchive mirrors the appliance's upload cap so a huge folder fails here, early.
const maxArchive = 64 << 20

func packApp(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if !fi.IsDir() {
		if fi.Size() > maxArchive {
			return nil, fmt.Errorf("deploy: %s is %d MB; the limit is %d MB", path, fi.Size()>>20, maxArchive>>20)
		}
		return os.ReadFile(path)
	}
	if _, err := os.Stat(filepath.Join(path, "app.json")); err != nil {
		return nil, fmt.Errorf("deploy: %s has no app.json: pick the app's folder", path)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		if rel == "." || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git") {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		if buf.Len() > maxArchive {
			return fmt.Errorf("the packed app passed %d MB", maxArchive>>20)
		}
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("deploy: pack %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

func (r *remote) Versions(ctx context.Context, app string) ([]source.AppVersion, error) {
	vs, err := r.c.Versions(ctx, app)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.AppVersion, len(vs))
	for i, v := range vs {
		out[i] = source.AppVersion{Version: v.Version, Deployed: v.DeployedAt, By: v.Hash, Current: v.Active}
		if len(out[i].By) > 12 {
			out[i].By = out[i].By[:12]
		}
	}
	return out, nil
}

func (r *remote) Rollback(ctx context.Context, app, version string) error {
	_, err := r.c.Rollback(ctx, app, version)
	return wrap(err)
}

// SetLimits sends the app's current limits document with the edited fields replaced, so
// fields the console does not show are kept.
func (r *remote) SetLimits(ctx context.Context, app string, l source.Limits) error {
	r.mu.Lock()
	raw := r.limits[app]
	r.mu.Unlock()
	doc := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("limits of %s: %w", app, err)
		}
	}
	doc["memory_mb"], doc["cpu_ms"], doc["wall_ms"] = l.MemoryMB, l.CPUMs, l.WallMs
	doc["workers"], doc["concurrency"], doc["subrequests"] = l.Workers, l.Concurrency, l.Subrequests
	doc["request_body_bytes"], doc["response_body_bytes"] = l.RequestBodyKB<<10, l.ResponseBodyKB<<10
	b, _ := json.Marshal(doc)
	_, err := r.c.SetLimits(ctx, app, b)
	return wrap(err)
}

func (r *remote) SetEnabled(ctx context.Context, app string, on bool) error {
	_, err := r.c.SetEnabled(ctx, app, on)
	return wrap(err)
}

func (r *remote) AppLog(ctx context.Context, app string, n int) ([]string, error) {
	ls, err := r.c.AppLogs(ctx, app, n)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = fmt.Sprintf("%s %-5s %s", l.TS.Local().Format("15:04:05"), l.Level, l.Msg)
	}
	return out, nil
}

// Policy documents: the config sections core/admin serves under /policies, with their TOML
// key names (core/config waf.go and headers.go).
type wafDoc struct {
	Mode     string `json:"mode"`
	Paranoia int    `json:"paranoia"`
	// Always sent: the appliance keeps keys left out of a PUT, so an empty list must be
	// written to remove the last exclusion.
	Exclusions []wafExclusion `json:"exclusions"`
}

type wafExclusion struct {
	App    string `json:"app,omitempty"`
	Prefix string `json:"prefix"`
	Rules  []int  `json:"rules"`
	Target string `json:"target,omitempty"`
}

func (w wafDoc) exclusions() []source.WAFExclusion {
	var out []source.WAFExclusion
	for _, x := range w.Exclusions {
		for _, r := range x.Rules {
			out = append(out, source.WAFExclusion{Rule: strconv.Itoa(r), Path: x.Prefix, App: x.App})
		}
	}
	return out
}

type headersDoc struct {
	Profile string `json:"profile"`
}

// defaultHTML is shown when the appliance does not serve its sanitizer whitelist, so the
// preview still demonstrates a safe policy.
var defaultHTML = source.HTMLPolicy{
	Tags: []source.TagRule{{Tag: "a", Attrs: []string{"href", "title"}}, {Tag: "b"}, {Tag: "i"}, {Tag: "em"}, {Tag: "strong"},
		{Tag: "p"}, {Tag: "ul"}, {Tag: "ol"}, {Tag: "li"}, {Tag: "code"}, {Tag: "pre"}, {Tag: "blockquote"}, {Tag: "img", Attrs: []string{"src", "alt"}}},
	Schemes: []string{"https", "mailto"},
}

func (r *remote) Policies(ctx context.Context) (source.Policies, error) {
	docs, err := r.c.Policies(ctx)
	if err != nil {
		return source.Policies{}, wrap(err)
	}
	var p source.Policies
	var errs []error
	if d, ok := docs["html"]; ok {
		h, err := htmlFromDoc(d)
		errs = append(errs, err)
		p.HTML = h
	} else {
		p.HTML = defaultHTML
		p.Notes = append(p.Notes, "this appliance does not serve its HTML whitelist; the console's default is shown")
	}
	if d, ok := docs["waf"]; ok {
		var w wafDoc
		errs = append(errs, json.Unmarshal(d, &w))
		p.WAF, p.Exclusions = source.WAFSettings{Mode: w.Mode, Paranoia: w.Paranoia}, w.exclusions()
	}
	if d, ok := docs["headers"]; ok {
		var h headersDoc
		errs = append(errs, json.Unmarshal(d, &h))
		p.HeadersProfile = h.Profile
	}
	p.HeadersChoices = []string{"default", "strict"}
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("policies from the appliance are not in the form this console knows: %w", err)
	}
	return p, nil
}

func (r *remote) putPolicy(ctx context.Context, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return wrap(r.c.PutPolicy(ctx, name, b))
}

// The appliance's "html" document holds named sanitizer whitelists (core/sanitize's
// JSON form: "tags" maps a tag to its attributes, "url_schemes", value rules, ...). The
// console edits the tags and schemes of the "default" policy and leaves every other key
// and policy as the appliance has them.
type whitelistDoc struct {
	Tags       map[string][]string `json:"tags"`
	URLSchemes []string            `json:"url_schemes"`
}

func htmlFromDoc(d json.RawMessage) (source.HTMLPolicy, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(d, &doc); err != nil {
		return source.HTMLPolicy{}, fmt.Errorf("html: %w", err)
	}
	def, ok := doc["default"]
	if !ok {
		return defaultHTML, nil
	}
	var w whitelistDoc
	if err := json.Unmarshal(def, &w); err != nil {
		return source.HTMLPolicy{}, fmt.Errorf("html default policy: %w", err)
	}
	tags := make([]string, 0, len(w.Tags))
	for t := range w.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	out := source.HTMLPolicy{Schemes: w.URLSchemes}
	for _, t := range tags {
		out.Tags = append(out.Tags, source.TagRule{Tag: t, Attrs: w.Tags[t]})
	}
	return out, nil
}

func (r *remote) SetHTMLPolicy(ctx context.Context, p source.HTMLPolicy) error {
	raw, err := r.c.Policy(ctx, "html")
	if err != nil {
		return wrap(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return fmt.Errorf("the appliance's html policies are not in the form this console knows: %v", err)
	}
	def := map[string]json.RawMessage{}
	if d, ok := doc["default"]; ok {
		if err := json.Unmarshal(d, &def); err != nil {
			return fmt.Errorf("the appliance's default html policy is not in the form this console knows: %w", err)
		}
	}
	tags := map[string][]string{}
	for _, t := range p.Tags {
		tags[t.Tag] = append(tags[t.Tag], t.Attrs...)
		if tags[t.Tag] == nil {
			tags[t.Tag] = []string{}
		}
	}
	var errs []error
	def["tags"], err = json.Marshal(tags)
	errs = append(errs, err)
	def["url_schemes"], err = json.Marshal(p.Schemes)
	errs = append(errs, err)
	doc["default"], err = json.Marshal(def)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.putPolicy(ctx, "html", doc)
}

func (r *remote) SetEgress(ctx context.Context, app string, hosts []string) error {
	raw, err := r.c.Policy(ctx, "egress")
	doc := map[string][]string{}
	if err == nil && len(raw) > 0 {
		_ = json.Unmarshal(raw, &doc)
	}
	doc[app] = hosts
	return r.putPolicy(ctx, "egress", doc)
}

func (r *remote) wafDoc(ctx context.Context) (wafDoc, error) {
	var w wafDoc
	raw, err := r.c.Policy(ctx, "waf")
	if err != nil {
		return w, wrap(err)
	}
	return w, json.Unmarshal(raw, &w)
}

func (r *remote) SetWAF(ctx context.Context, s source.WAFSettings) error {
	w, err := r.wafDoc(ctx)
	if err != nil {
		return err
	}
	w.Mode, w.Paranoia = s.Mode, s.Paranoia
	return r.putPolicy(ctx, "waf", w)
}

func (r *remote) AddWAFExclusion(ctx context.Context, x source.WAFExclusion) error {
	w, err := r.wafDoc(ctx)
	if err != nil {
		return err
	}
	rule, err := strconv.Atoi(x.Rule)
	if err != nil {
		return fmt.Errorf("rule %q: WAF exclusions take numeric CRS rule ids", x.Rule)
	}
	w.Exclusions = append(w.Exclusions, wafExclusion{App: x.App, Prefix: x.Path, Rules: []int{rule}})
	return r.putPolicy(ctx, "waf", w)
}

func (r *remote) RemoveWAFExclusion(ctx context.Context, x source.WAFExclusion) error {
	w, err := r.wafDoc(ctx)
	if err != nil {
		return err
	}
	var keep []wafExclusion
	for _, y := range w.Exclusions {
		var rules []int
		for _, rule := range y.Rules {
			if y.App != x.App || y.Prefix != x.Path || strconv.Itoa(rule) != x.Rule {
				rules = append(rules, rule)
			}
		}
		if len(rules) > 0 {
			y.Rules = rules
			keep = append(keep, y)
		}
	}
	w.Exclusions = keep
	return r.putPolicy(ctx, "waf", w)
}

func (r *remote) SetHeadersProfile(ctx context.Context, profile string) error {
	return r.putPolicy(ctx, "headers", headersDoc{Profile: profile})
}

func (r *remote) AlertRules(ctx context.Context) ([]source.AlertRule, error) {
	rs, err := r.c.Rules(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.AlertRule, len(rs))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = map[string]adminapi.Rule{}
	for i, x := range rs {
		r.rules[x.Name] = x
		w, _ := time.ParseDuration(x.Window)
		sup, _ := time.ParseDuration(x.Suppress)
		t := source.RuleType(x.Type)
		if t == "" {
			t = source.RuleThreshold
		}
		out[i] = source.AlertRule{ID: x.ID, Name: x.Name, Type: t, Kind: event.Kind(x.Match.Kind), MinSeverity: event.Severity(x.Match.Severity),
			Threshold: x.Threshold, Window: w, Factor: x.Factor, MinCount: x.MinCount, GroupBy: x.GroupBy, Suppress: sup,
			Channels: x.Channels, Enabled: !x.Disabled}
	}
	return out, nil
}

// durString writes d for the wire, keeping the stored spelling when it means the same
// ("" and "0s" both read as 0 here, but differ on the appliance).
func durString(d time.Duration, stored string) string {
	if sd, err := time.ParseDuration(stored); (err == nil && sd == d) || (stored == "" && d == 0) {
		return stored
	}
	if d == 0 {
		return ""
	}
	return d.String()
}

func (r *remote) SaveAlertRule(ctx context.Context, x source.AlertRule) error {
	r.mu.Lock()
	doc, ok := r.rules[x.Name]
	if x.ID != "" { // the rule being edited, whatever it is called now
		for _, d := range r.rules {
			if d.ID == x.ID {
				doc, ok = d, true
			}
		}
	}
	r.mu.Unlock()
	if !ok {
		doc = adminapi.Rule{ID: x.ID, Severity: string(x.MinSeverity)}
	}
	old := doc
	doc.Name = x.Name
	t := x.Type
	if t == "" {
		t = source.RuleThreshold
	}
	doc.Type = string(t)
	doc.Match.Kind, doc.Match.Severity = string(x.Kind), string(x.MinSeverity)
	doc.Threshold, doc.Window, doc.Factor, doc.MinCount = 0, "", 0, 0
	switch t {
	case source.RuleThreshold:
		doc.Threshold, doc.Window = x.Threshold, durString(x.Window, old.Window)
	case source.RuleSpike:
		doc.Factor, doc.MinCount, doc.Window = x.Factor, x.MinCount, durString(x.Window, old.Window)
	}
	doc.GroupBy, doc.Suppress = x.GroupBy, durString(x.Suppress, old.Suppress)
	doc.Channels, doc.Disabled = x.Channels, !x.Enabled
	saved, err := r.c.PutRule(ctx, doc)
	if err != nil {
		return wrap(err)
	}
	r.mu.Lock()
	delete(r.rules, old.Name)
	r.rules[saved.Name] = saved
	r.mu.Unlock()
	return nil
}

func (r *remote) DeleteAlertRule(ctx context.Context, name string) error {
	r.mu.Lock()
	doc, ok := r.rules[name]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("no rule named %q (reload the list)", name)
	}
	return wrap(r.c.DeleteRule(ctx, doc.ID))
}

func hostPort(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// channelFromAPI is the console's form of a listed (redacted) channel.
func channelFromAPI(c adminapi.Channel) source.Channel {
	out := source.Channel{Name: c.Name, Type: c.Type}
	switch {
	case c.Webhook != nil:
		w := c.Webhook
		to, _ := time.ParseDuration(w.Timeout)
		out.Target = w.URL
		out.Webhook = &source.WebhookSettings{URL: w.URL, SecretSet: w.Secret != "", Timeout: to, Retries: w.Retries, CACert: w.CACert}
	case c.SMTP != nil:
		m := c.SMTP
		host, port := hostPort(m.Addr)
		sec := source.SecuritySTARTTLS
		switch {
		case m.TLS == adminapi.SMTPImplicitTLS:
			sec = source.SecurityTLS
		case m.Insecure:
			sec = source.SecurityNone
		}
		out.Type, out.Target = source.ChannelEmail, strings.Join(m.To, ", ")
		out.Email = &source.EmailSettings{Host: host, Port: port, Security: sec, Username: m.Username, PasswordSet: m.Password != "",
			From: m.From, To: m.To, CACert: m.CACert}
	case c.Syslog != nil:
		s := c.Syslog
		host, port := hostPort(s.Addr)
		out.Target = s.Network + "://" + s.Addr
		out.Syslog = &source.SyslogSettings{Network: s.Network, Host: host, Port: port, Facility: s.Facility, AppName: s.AppName, CACert: s.CACert}
	case c.Type == adminapi.ChannelConsole:
		out.Target = "live stream"
	}
	return out
}

func (r *remote) Channels(ctx context.Context) ([]source.Channel, error) {
	cs, err := r.c.Channels(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.Channel, len(cs))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.channels = map[string]adminapi.Channel{}
	for i, c := range cs {
		r.channels[c.Name] = c
		out[i] = channelFromAPI(c)
	}
	return out, nil
}

// SaveChannel creates or replaces a channel. Secrets are write-only: the appliance lists
// them masked, and an empty secret marked as set goes back as the mask, which keeps the
// stored one.
func (r *remote) SaveChannel(ctx context.Context, c source.Channel) error {
	r.mu.Lock()
	old := r.channels[c.Name]
	r.mu.Unlock()
	ch := adminapi.Channel{Name: c.Name}
	switch c.Type {
	case source.ChannelWebhook:
		w := c.Webhook
		if w == nil {
			return &source.FieldError{Field: "webhook.url", Message: "a webhook channel needs a URL"}
		}
		var stored string
		if old.Webhook != nil {
			stored = old.Webhook.Timeout
		}
		ch.Type = adminapi.ChannelWebhook
		ch.Webhook = &adminapi.WebhookConfig{URL: w.URL, Secret: keepSecret(w.Secret, w.SecretSet), Timeout: durString(w.Timeout, stored), Retries: w.Retries, CACert: w.CACert}
	case source.ChannelEmail:
		m := c.Email
		if m == nil {
			return &source.FieldError{Field: "smtp.addr", Message: "an e-mail channel needs a mail server"}
		}
		ch.Type = adminapi.ChannelSMTP
		ch.SMTP = &adminapi.SMTPConfig{Addr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), From: m.From, To: m.To,
			Username: m.Username, Password: keepSecret(m.Password, m.PasswordSet), CACert: m.CACert}
		switch m.Security {
		case source.SecuritySTARTTLS:
			// "" is the appliance's STARTTLS; an explicit "starttls" stored by another client stays.
			if old.SMTP != nil && old.SMTP.TLS == adminapi.SMTPStartTLS {
				ch.SMTP.TLS = adminapi.SMTPStartTLS
			}
		case source.SecurityTLS:
			ch.SMTP.TLS = adminapi.SMTPImplicitTLS
		case source.SecurityNone:
			ch.SMTP.Insecure = true
		default:
			return &source.FieldError{Field: "smtp.tls", Message: fmt.Sprintf("unknown mail security %q (STARTTLS, TLS or none)", m.Security)}
		}
		if old.SMTP != nil {
			ch.SMTP.Timeout = old.SMTP.Timeout
		}
	case source.ChannelSyslog:
		s := c.Syslog
		if s == nil {
			return &source.FieldError{Field: "syslog.addr", Message: "a syslog channel needs a collector"}
		}
		ch.Type = adminapi.ChannelSyslog
		ch.Syslog = &adminapi.SyslogConfig{Network: s.Network, Addr: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
			Facility: s.Facility, AppName: s.AppName, CACert: s.CACert}
	case source.ChannelConsole:
		ch.Type = adminapi.ChannelConsole
	default:
		return &source.FieldError{Field: "type", Message: fmt.Sprintf("unknown channel type %q", c.Type)}
	}
	if err := r.c.PutChannel(ctx, ch); err != nil {
		return wrap(err)
	}
	if ch.Webhook != nil && ch.Webhook.Secret != "" {
		ch.Webhook.Secret = adminapi.SecretMask
	}
	if ch.SMTP != nil && ch.SMTP.Password != "" {
		ch.SMTP.Password = adminapi.SecretMask
	}
	r.mu.Lock()
	r.channels[ch.Name] = ch
	r.mu.Unlock()
	return nil
}

// keepSecret is the secret to send: the one typed, or the mask that keeps the stored one.
func keepSecret(typed string, stored bool) string {
	if typed == "" && stored {
		return adminapi.SecretMask
	}
	return typed
}

func (r *remote) DeleteChannel(ctx context.Context, name string) error {
	if err := r.c.DeleteChannel(ctx, name); err != nil {
		return wrap(err)
	}
	r.mu.Lock()
	delete(r.channels, name)
	r.mu.Unlock()
	return nil
}

func (r *remote) TestChannel(ctx context.Context, name string) error {
	d, err := r.c.TestChannel(ctx, name)
	if err != nil {
		return wrap(err)
	}
	if !d.OK {
		return fmt.Errorf("delivery to %s failed after %d attempt(s): %s", name, d.Attempts, d.Error)
	}
	return nil
}

func (r *remote) AlertHistory(ctx context.Context, limit int) ([]source.Alert, error) {
	fs, err := r.c.Alerts(ctx, limit)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.Alert, len(fs))
	for i, f := range fs {
		out[i] = source.Alert{ID: f.ID, Rule: f.RuleName, Fired: f.TS, Severity: event.Severity(f.Severity), Summary: f.Summary,
			Acked: f.State != adminapi.StateOpen, AckedBy: f.AckBy}
	}
	return out, nil
}

func (r *remote) Acknowledge(ctx context.Context, id int64) error {
	_, err := r.c.Ack(ctx, id, false)
	return wrap(err)
}

func (r *remote) Clients(ctx context.Context) ([]source.Client, error) {
	cs, err := r.c.Clients(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]source.Client, len(cs))
	for i, c := range cs {
		out[i] = source.Client{Name: c.Name, Serial: c.Serial, Issued: c.IssuedAt, Expires: c.NotAfter, Revoked: !c.RevokedAt.IsZero()}
	}
	return out, nil
}

func (r *remote) IssueClient(ctx context.Context, name string) ([]byte, error) {
	b, err := r.c.Issue(ctx, name, adminbundle.RoleAdmin, 0)
	if err != nil {
		return nil, wrap(err)
	}
	return b.Marshal()
}

func (r *remote) RevokeClient(ctx context.Context, name string) error {
	_, err := r.c.Revoke(ctx, name)
	return wrap(err)
}

var _ source.Appliance = (*remote)(nil)
var _ source.Connector = connector{}
