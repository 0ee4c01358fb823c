package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Guard configures access lists, bans, rate limits, scenarios and CSRF (packages guard,
// csrf, cookies, logins).
type Guard struct {
	Allow     []string       `toml:"allow"` // CIDRs or addresses never banned or rate limited
	Deny      []string       `toml:"deny"`  // CIDRs or addresses always refused
	RateLimit GuardRateLimit `toml:"rate_limit"`
	Bans      GuardBans      `toml:"bans"`
	// Rules replace the default fail2ban-style rules when at least one is given.
	Rules     []GuardRule    `toml:"rules"`
	Scenarios GuardScenarios `toml:"scenarios"`
	CSRF      GuardCSRF      `toml:"csrf"`
}

// GuardRateLimit is in requests per second; 0 switches a limit off.
type GuardRateLimit struct {
	PerIP       float64 `toml:"per_ip"`
	PerIPBurst  int     `toml:"per_ip_burst"`
	PerApp      float64 `toml:"per_app"`
	PerAppBurst int     `toml:"per_app_burst"`
}

// GuardBans sets how bans grow for repeat offenders (fail2ban bantime.increment, recidive).
type GuardBans struct {
	IncrementFactor  float64  `toml:"increment_factor"` // 1 = no increment
	MaxBanTime       Duration `toml:"max_ban_time"`
	RecidiveMaxBans  int      `toml:"recidive_max_bans"`
	RecidiveFindTime Duration `toml:"recidive_find_time"`
	RecidiveBanTime  Duration `toml:"recidive_ban_time"`
}

// GuardRule bans an address after max_matches events of the listed kinds within find_time.
type GuardRule struct {
	Name       string   `toml:"name"`
	Kinds      []string `toml:"kinds"`
	Actions    []string `toml:"actions"` // blocked, logged, throttled; empty = any
	MaxMatches int      `toml:"max_matches"`
	FindTime   Duration `toml:"find_time"`
	BanTime    Duration `toml:"ban_time"`
}

// GuardThreshold: the max-th observation within window bans for ban_time.
type GuardThreshold struct {
	Max     int      `toml:"max"`
	Window  Duration `toml:"window"`
	BanTime Duration `toml:"ban_time"`
}

// GuardScenarios are the CrowdSec-style behaviours watched on the request path.
type GuardScenarios struct {
	SensitiveFiles GuardThreshold `toml:"sensitive_files"`
	NotFound       GuardThreshold `toml:"not_found"`
	Scanner        GuardThreshold `toml:"scanner"`
	Flood          GuardThreshold `toml:"flood"`
	ExtraSensitive []string       `toml:"extra_sensitive"` // path substrings
	ExtraScanners  []string       `toml:"extra_scanners"`  // User-Agent substrings
}

// GuardCSRF configures the origin check and the synchronizer token.
type GuardCSRF struct {
	Enabled        bool     `toml:"enabled"`
	TrustedOrigins []string `toml:"trusted_origins"` // scheme://host[:port]
	MaxFormBytes   int64    `toml:"max_form_bytes"`  // form bodies read to find the token
}

func defaultGuard() Guard {
	return Guard{
		RateLimit: GuardRateLimit{PerIP: 50, PerIPBurst: 100, PerApp: 2000, PerAppBurst: 4000},
		Bans: GuardBans{IncrementFactor: 2, MaxBanTime: Duration(168 * 3600e9), RecidiveMaxBans: 3,
			RecidiveFindTime: Duration(24 * 3600e9), RecidiveBanTime: Duration(168 * 3600e9)},
		Scenarios: GuardScenarios{
			SensitiveFiles: GuardThreshold{Max: 6, Window: Duration(60e9), BanTime: Duration(3600e9)},
			NotFound:       GuardThreshold{Max: 40, Window: Duration(30e9), BanTime: Duration(900e9)},
			Scanner:        GuardThreshold{Max: 2, Window: Duration(300e9), BanTime: Duration(3600e9)},
			Flood:          GuardThreshold{Max: 200, Window: Duration(30e9), BanTime: Duration(600e9)},
		},
		CSRF: GuardCSRF{Enabled: true, MaxFormBytes: 8 << 20},
	}
}

// Event kinds a rule may count (DESIGN.md "Events"; banned is the guard's own).
var guardRuleKinds = map[string]bool{"xss": true, "sqli": true, "traversal": true, "probe": true, "scanner": true,
	"waf": true, "csrf": true, "rate_limit": true, "login_failed": true, "login_new_ip": true,
	"credential_stuffing": true, "account_changed": true, "egress_denied": true}

func validIPList(field string, list []string) error {
	for i, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return Errorf(fmt.Sprintf("%s[%d]", field, i), "%q is not a CIDR range (e.g. 10.0.0.0/8)", list[i])
			}
			if p.Masked() != p {
				return Errorf(fmt.Sprintf("%s[%d]", field, i), "%q has host bits set; did you mean %q?", list[i], p.Masked().String())
			}
		} else if _, err := netip.ParseAddr(s); err != nil {
			return Errorf(fmt.Sprintf("%s[%d]", field, i), "%q is not an IP address or CIDR range", list[i])
		}
	}
	return nil
}

func (g *Guard) validate() error {
	if err := validIPList("guard.allow", g.Allow); err != nil {
		return err
	}
	if err := validIPList("guard.deny", g.Deny); err != nil {
		return err
	}
	rl := g.RateLimit
	if rl.PerIP < 0 || (rl.PerIP > 0 && rl.PerIPBurst < 1) {
		return Errorf("guard.rate_limit.per_ip", "needs a rate ≥ 0 (0 = off) and per_ip_burst ≥ 1, got %g and %d", rl.PerIP, rl.PerIPBurst)
	}
	if rl.PerApp < 0 || (rl.PerApp > 0 && rl.PerAppBurst < 1) {
		return Errorf("guard.rate_limit.per_app", "needs a rate ≥ 0 (0 = off) and per_app_burst ≥ 1, got %g and %d", rl.PerApp, rl.PerAppBurst)
	}
	b := g.Bans
	if b.IncrementFactor < 1 {
		return Errorf("guard.bans.increment_factor", "must be at least 1 (1 = no increment), got %g", b.IncrementFactor)
	}
	if err := positive("guard.bans.max_ban_time", b.MaxBanTime); err != nil {
		return err
	}
	if b.RecidiveMaxBans < 2 {
		return Errorf("guard.bans.recidive_max_bans", "must be at least 2, got %d", b.RecidiveMaxBans)
	}
	if err := positive("guard.bans.recidive_find_time", b.RecidiveFindTime); err != nil {
		return err
	}
	if err := positive("guard.bans.recidive_ban_time", b.RecidiveBanTime); err != nil {
		return err
	}
	for i, r := range g.Rules {
		f := fmt.Sprintf("guard.rules[%d]", i)
		if strings.TrimSpace(r.Name) == "" {
			return Errorf(f+".name", "a rule needs a name")
		}
		if len(r.Kinds) == 0 {
			return Errorf(f+".kinds", "rule %q lists no event kind", r.Name)
		}
		for j, k := range r.Kinds {
			if !guardRuleKinds[k] {
				return Errorf(fmt.Sprintf("%s.kinds[%d]", f, j), "rule %q: unknown event kind %q", r.Name, k)
			}
		}
		for j, a := range r.Actions {
			if a != "blocked" && a != "logged" && a != "throttled" {
				return Errorf(fmt.Sprintf("%s.actions[%d]", f, j), "rule %q: unknown action %q (blocked, logged or throttled)", r.Name, a)
			}
		}
		if r.MaxMatches < 1 {
			return Errorf(f+".max_matches", "rule %q: must be at least 1, got %d", r.Name, r.MaxMatches)
		}
		if err := positive(f+".find_time", r.FindTime); err != nil {
			return err
		}
		if err := positive(f+".ban_time", r.BanTime); err != nil {
			return err
		}
	}
	for name, t := range map[string]GuardThreshold{"sensitive_files": g.Scenarios.SensitiveFiles, "not_found": g.Scenarios.NotFound,
		"scanner": g.Scenarios.Scanner, "flood": g.Scenarios.Flood} {
		f := "guard.scenarios." + name
		if t.Max < 1 {
			return Errorf(f+".max", "must be at least 1, got %d", t.Max)
		}
		if err := positive(f+".window", t.Window); err != nil {
			return err
		}
		if err := positive(f+".ban_time", t.BanTime); err != nil {
			return err
		}
	}
	for i, o := range g.CSRF.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return Errorf(fmt.Sprintf("guard.csrf.trusted_origins[%d]", i), "%q is not an origin; write scheme://host[:port]", o)
		}
	}
	if g.CSRF.MaxFormBytes < 0 {
		return Errorf("guard.csrf.max_form_bytes", "must not be negative")
	}
	return nil
}
