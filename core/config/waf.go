package config

import (
	"fmt"
	"strings"
)

// WAF configures the OWASP Core Rule Set engine (package waf).
type WAF struct {
	Mode              string         `toml:"mode"`               // block, detect, off
	Paranoia          int            `toml:"paranoia"`           // CRS paranoia level 1..4
	InboundThreshold  int            `toml:"inbound_threshold"`  // anomaly score that blocks a request
	OutboundThreshold int            `toml:"outbound_threshold"` // anomaly score for responses (CRS setting)
	BodyLimit         int64          `toml:"body_limit"`         // request body bytes inspected
	Paths             []WAFPath      `toml:"paths"`              // mode per app and path prefix
	Exclusions        []WAFExclusion `toml:"exclusions"`         // the operator's answer to a false positive
}

// WAFPath sets the mode for one app (empty: every app) under a path prefix (empty: all).
type WAFPath struct {
	App    string `toml:"app"`
	Prefix string `toml:"prefix"`
	Mode   string `toml:"mode"`
}

// WAFExclusion removes rules, or the rules' look at one parameter, for one app and path
// prefix (either empty: everywhere).
type WAFExclusion struct {
	App    string `toml:"app"`
	Prefix string `toml:"prefix"`
	Rules  []int  `toml:"rules"`  // CRS rule ids (at least one)
	Target string `toml:"target"` // "" = the whole rule; else e.g. "ARGS:comment", "REQUEST_COOKIES:session"
}

func defaultWAF() WAF {
	return WAF{Mode: "block", Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 128 << 10}
}

func validWAFMode(m string) bool { return m == "block" || m == "detect" || m == "off" }

func (w *WAF) validate() error {
	if !validWAFMode(w.Mode) {
		return Errorf("waf.mode", "unknown mode %q (want block, detect or off)", w.Mode)
	}
	if w.Paranoia < 1 || w.Paranoia > 4 {
		return Errorf("waf.paranoia", "must be 1 to 4, got %d", w.Paranoia)
	}
	if w.InboundThreshold < 1 {
		return Errorf("waf.inbound_threshold", "must be at least 1, got %d", w.InboundThreshold)
	}
	if w.OutboundThreshold < 1 {
		return Errorf("waf.outbound_threshold", "must be at least 1, got %d", w.OutboundThreshold)
	}
	if w.BodyLimit < 1024 || w.BodyLimit > 64<<20 {
		return Errorf("waf.body_limit", "must be between 1024 bytes and 64 MiB, got %d", w.BodyLimit)
	}
	for i, p := range w.Paths {
		f := fmt.Sprintf("waf.paths[%d]", i)
		if !validWAFMode(p.Mode) {
			return Errorf(f+".mode", "unknown mode %q (want block, detect or off)", p.Mode)
		}
		if p.Prefix != "" && !strings.HasPrefix(p.Prefix, "/") {
			return Errorf(f+".prefix", "must start with \"/\", got %q", p.Prefix)
		}
		if p.App == "" && p.Prefix == "" {
			return Errorf(f, "names neither an app nor a path prefix (use waf.mode for everything)")
		}
	}
	for i, x := range w.Exclusions {
		if err := ValidateWAFExclusion(x); err != nil {
			fe := err.(*FieldError)
			return Errorf(fmt.Sprintf("waf.exclusions[%d].%s", i, fe.Field), "%s", fe.Msg)
		}
	}
	return nil
}

// WAFTargets are the variables an exclusion may name, as CRS writes them.
var WAFTargets = []string{"ARGS", "ARGS_NAMES", "ARGS_GET", "ARGS_POST", "REQUEST_COOKIES",
	"REQUEST_COOKIES_NAMES", "REQUEST_HEADERS", "REQUEST_FILENAME", "REQUEST_BASENAME",
	"REQUEST_URI", "REQUEST_BODY", "FILES", "FILES_NAMES", "XML"}

// ValidateWAFExclusion checks one exclusion; the error's Field is relative to it ("rules",
// "target", "prefix"). The admin API uses it for exclusions set at run time.
func ValidateWAFExclusion(x WAFExclusion) error {
	if len(x.Rules) == 0 {
		return Errorf("rules", "names no rule id")
	}
	for _, id := range x.Rules {
		if id < 1 || id > 999999 {
			return Errorf("rules", "%d is not a rule id (1 to 999999)", id)
		}
	}
	if x.Prefix != "" && !strings.HasPrefix(x.Prefix, "/") {
		return Errorf("prefix", "must start with \"/\", got %q", x.Prefix)
	}
	if x.Target != "" {
		name, key, hasKey := strings.Cut(x.Target, ":")
		known := false
		for _, t := range WAFTargets {
			if name == t {
				known = true
			}
		}
		if !known {
			return Errorf("target", "unknown variable %q in %q (want one of %s)", name, x.Target, strings.Join(WAFTargets, ", "))
		}
		if !hasKey || key == "" {
			return Errorf("target", "%q names no parameter (write e.g. %s:comment)", x.Target, name)
		}
	}
	return nil
}

// Validate checks the section on its own (the admin API validates policies set at run
// time with it); fields are named as in the file ("waf.exclusions[0].target").
func (w WAF) Validate() error { return w.validate() }
