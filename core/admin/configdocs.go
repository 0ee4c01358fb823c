package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"bulwark/core/adminapi"
	"bulwark/core/config"
)

// ConfigDocs serves sections of the configuration file read-only, with the file's own key
// names, until a subsystem offers live editing of its part. Put refuses with a sentence
// saying where the setting lives.
type ConfigDocs struct {
	Sections map[string]any // name → a config section value (e.g. cfg.WAF)
	What     string         // "policy" or "setting", for messages
}

// PolicyDocs are the policies the appliance runs with, from its configuration.
func PolicyDocs(cfg config.Config) ConfigDocs {
	return ConfigDocs{What: "policy", Sections: map[string]any{"waf": cfg.WAF, "headers": cfg.Headers, "guard": cfg.Guard}}
}

// SettingsDocs are the appliance settings: certificates and domains, listeners, retention.
func SettingsDocs(cfg config.Config) ConfigDocs {
	return ConfigDocs{What: "setting", Sections: map[string]any{
		"tls":       cfg.TLS,
		"listeners": map[string]string{"https": cfg.Server.Listen, "http": cfg.Server.HTTPListen, "admin": cfg.Admin.Listen},
		"store":     cfg.Store,
	}}
}

// Names lists the sections.
func (c ConfigDocs) Names() []string {
	out := make([]string, 0, len(c.Sections))
	for n := range c.Sections {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns a section as JSON with the TOML key names.
func (c ConfigDocs) Get(_ context.Context, name string) (json.RawMessage, error) {
	v, ok := c.Sections[name]
	if !ok {
		return nil, adminapi.Errorf(404, "name", "no %s %q (one of %s)", c.What, name, strings.Join(c.Names(), ", "))
	}
	if m, ok := v.(map[string]string); ok {
		return json.Marshal(m)
	}
	t, err := toml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.What, name, err)
	}
	var m map[string]any
	if err := toml.Unmarshal(t, &m); err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.What, name, err)
	}
	return json.Marshal(m)
}

// Put refuses: these sections are edited in the configuration file.
func (c ConfigDocs) Put(_ context.Context, name string, _ json.RawMessage) error {
	if _, ok := c.Sections[name]; !ok {
		return adminapi.Errorf(404, "name", "no %s %q", c.What, name)
	}
	return adminapi.Errorf(http.StatusNotImplemented, "name", "the %s %q is read from the configuration file ([%s]): edit it there and restart bulwark", c.What, name, name)
}

// ConfigLists serves the allow and deny lists of the configuration (guard.allow,
// guard.deny) read-only.
type ConfigLists struct{ Allow, Deny []string }

// List returns a list's entries.
func (l ConfigLists) List(_ context.Context, list string) ([]adminapi.AccessEntry, error) {
	src := l.Allow
	if list == "deny" {
		src = l.Deny
	}
	out := []adminapi.AccessEntry{}
	for _, e := range src {
		out = append(out, adminapi.AccessEntry{CIDR: e, Note: "guard." + list + " in the configuration file"})
	}
	return out, nil
}

// Add refuses: the lists live in the configuration file.
func (l ConfigLists) Add(_ context.Context, list string, p netip.Prefix, _ string) error {
	return adminapi.Errorf(http.StatusNotImplemented, "cidr", "the %s list is read from guard.%s in the configuration file: add %s there and restart bulwark (or use bans for a single address)", list, list, p)
}

// Remove refuses likewise.
func (l ConfigLists) Remove(_ context.Context, list string, p netip.Prefix) error {
	return adminapi.Errorf(http.StatusNotImplemented, "cidr", "the %s list is read from guard.%s in the configuration file: remove %s there and restart bulwark", list, list, p)
}
