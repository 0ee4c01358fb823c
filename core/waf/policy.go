package waf

import (
	"fmt"
	"strings"

	"bulwark/core/config"
)

// Mode is what the WAF does with a request that scores over the threshold.
type Mode string

const (
	Block  Mode = "block"  // refuse with 403 and log
	Detect Mode = "detect" // log only
	Off    Mode = "off"    // do not inspect
)

// Policy is the part of the configuration that changes without recompiling the rules:
// modes per app and path, and exclusions. The admin plane replaces it with SetPolicy.
type Policy struct {
	Mode       Mode                  `json:"mode"`
	Paths      []config.WAFPath      `json:"paths"`
	Exclusions []config.WAFExclusion `json:"exclusions"`
}

// PolicyFrom takes the policy part of the WAF configuration.
func PolicyFrom(c config.WAF) Policy {
	return Policy{Mode: Mode(c.Mode), Paths: c.Paths, Exclusions: c.Exclusions}
}

// Validate names the first bad field ("mode", "paths[1].prefix", "exclusions[0].target").
func (p Policy) Validate() error {
	c := config.Default().WAF
	c.Mode, c.Paths, c.Exclusions = string(p.Mode), p.Paths, p.Exclusions
	if err := c.Validate(); err != nil {
		return err
	}
	return nil
}

// modeFor picks the most specific path rule: an app-specific one beats a global one, and a
// longer prefix beats a shorter one.
func (p *Policy) modeFor(app, path string) Mode {
	mode, best := p.Mode, -1
	for _, r := range p.Paths {
		if r.App != "" && r.App != app {
			continue
		}
		if !strings.HasPrefix(path, r.Prefix) {
			continue
		}
		score := len(r.Prefix) * 2
		if r.App != "" {
			score += 1 << 20
		}
		if score > best {
			mode, best = Mode(r.Mode), score
		}
	}
	return mode
}

// exclusionsFor returns the exclusions that apply to app and path.
func (p *Policy) exclusionsFor(app, path string) []txExclusion {
	var out []txExclusion
	for _, x := range p.Exclusions {
		if x.App != "" && x.App != app {
			continue
		}
		if !strings.HasPrefix(path, x.Prefix) {
			continue
		}
		for _, id := range x.Rules {
			out = append(out, txExclusion{RuleID: id, Target: x.Target})
		}
	}
	return out
}

func (p Policy) String() string {
	return fmt.Sprintf("mode=%s paths=%d exclusions=%d", p.Mode, len(p.Paths), len(p.Exclusions))
}
