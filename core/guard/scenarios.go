package guard

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"bulwark/core/event"
	"bulwark/core/verdict"
)

// scenarioPrefix marks events the scenarios emit, so the event-fed rules do not count them
// a second time.
const scenarioPrefix = "scenario:"

// Threshold is "Max observations within Window ban for BanTime" (the Max-th one bans).
type Threshold struct {
	Max     int
	Window  time.Duration
	BanTime time.Duration
}

// Scenarios are CrowdSec-style behaviours the guard watches on the request path itself.
type Scenarios struct {
	SensitiveFiles Threshold // probes for .env, .git/, wp-admin, backups …
	NotFound       Threshold // bursts of 404 answers
	Scanner        Threshold // requests with a scanner's User-Agent
	Flood          Threshold // requests refused by the per-IP rate limit
	// Extra paths (substrings of the lower-cased path) counted as sensitive-file probes.
	ExtraSensitive []string
	ExtraScanners  []string // extra User-Agent substrings (lower case)
}

// DefaultScenarios: the 6th sensitive-file probe within a minute bans for an hour.
func DefaultScenarios() Scenarios {
	return Scenarios{
		SensitiveFiles: Threshold{Max: 6, Window: time.Minute, BanTime: time.Hour},
		NotFound:       Threshold{Max: 40, Window: 30 * time.Second, BanTime: 15 * time.Minute},
		Scanner:        Threshold{Max: 2, Window: 5 * time.Minute, BanTime: time.Hour},
		Flood:          Threshold{Max: 200, Window: 30 * time.Second, BanTime: 10 * time.Minute},
	}
}

func (s Scenarios) isZero() bool {
	return s.SensitiveFiles == Threshold{} && s.NotFound == Threshold{} && s.Scanner == Threshold{} && s.Flood == Threshold{} &&
		s.ExtraSensitive == nil && s.ExtraScanners == nil
}

func (t Threshold) validate(field string) error {
	if t.Max < 1 || t.Window <= 0 || t.BanTime <= 0 {
		return fmt.Errorf("%s: needs max ≥ 1 and positive window and ban_time, got %d, %s, %s", field, t.Max, t.Window, t.BanTime)
	}
	return nil
}

// Paths whose mere request is a probe: secrets, VCS folders, admin panels of software that
// is not here. Matched as substrings of the lower-cased path.
var sensitivePaths = []string{
	"/.env", "/.git/", "/.git", "/.svn/", "/.hg/", "/.bzr/", "/.aws/", "/.ssh/", "/.docker/", "/.kube/",
	"/.htpasswd", "/.htaccess", "/.ds_store", "/.vscode/", "/.idea/", "/.npmrc", "/.bash_history",
	"/wp-admin", "/wp-login.php", "/wp-config", "/xmlrpc.php", "/phpmyadmin", "/pma/", "/adminer",
	"/server-status", "/server-info", "/web.config", "/config.php", "/phpinfo", "/etc/passwd",
	"/id_rsa", "/actuator/", "/cgi-bin/", "/vendor/phpunit",
}

// Backup-like suffixes count as probes only when the answer is not a success (a real
// download of /release.zip is not a probe).
var backupSuffixes = []string{".bak", ".backup", ".old", ".orig", ".save", ".swp", ".sql", ".sql.gz", ".tar", ".tar.gz", ".tgz", ".zip", ".7z", ".rar", "~"}

var scannerAgents = []string{
	"sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "wpscan", "dirbuster", "gobuster", "ffuf",
	"feroxbuster", "acunetix", "nessus", "openvas", "w3af", "whatweb", "arachni", "skipfish", "havij",
	"jaeles", "commix", "dirb/", "hydra", "zmeu", "netsparker", "appscan", "burpcollaborator", "wfuzz",
	"xsstrike", "joomscan", "droopescan", "fimap", "morfeus", "censysinspect", "internet-measurement",
}

type scenarioState struct {
	cfg                                 Scenarios
	paths, agents                       []string
	byFirst                             [256][]string // path patterns by the byte after their leading slash
	loose                               []string      // patterns not starting with a slash
	probes, notFound, scanners, flooder *window
}

func newScenarios(s Scenarios) (*scenarioState, error) {
	for _, v := range []struct {
		f string
		t Threshold
	}{{"guard.scenarios.sensitive_files", s.SensitiveFiles}, {"guard.scenarios.not_found", s.NotFound},
		{"guard.scenarios.scanner", s.Scanner}, {"guard.scenarios.flood", s.Flood}} {
		if err := v.t.validate(v.f); err != nil {
			return nil, err
		}
	}
	st := &scenarioState{cfg: s,
		paths:    append(append([]string(nil), sensitivePaths...), lower(s.ExtraSensitive)...),
		agents:   append(append([]string(nil), scannerAgents...), lower(s.ExtraScanners)...),
		probes:   newWindow(s.SensitiveFiles.Max, s.SensitiveFiles.Window),
		notFound: newWindow(s.NotFound.Max, s.NotFound.Window),
		scanners: newWindow(s.Scanner.Max, s.Scanner.Window),
		flooder:  newWindow(s.Flood.Max, s.Flood.Window),
	}
	for i, p := range st.paths {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("guard.scenarios.extra_sensitive[%d]: empty path", i-len(sensitivePaths))
		}
		if len(p) > 1 && p[0] == '/' {
			st.byFirst[p[1]] = append(st.byFirst[p[1]], p)
		} else {
			st.loose = append(st.loose, p)
		}
	}
	return st, nil
}

func lower(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

func (s *scenarioState) scanner(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	if ua == "" {
		return false
	}
	ua = strings.ToLower(ua)
	for _, a := range s.agents {
		if strings.Contains(ua, a) {
			return true
		}
	}
	return false
}

// sensitive reports whether the request is a probe for a sensitive file, and which pattern.
func (s *scenarioState) sensitive(path string, status int) (string, bool) {
	p := strings.ToLower(path)
	// Same as strings.Contains for each pattern, but only patterns whose second byte follows
	// a slash of the path are tried: a benign path costs a few comparisons, not one per pattern.
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		for _, x := range s.byFirst[p[i+1]] {
			if strings.HasPrefix(p[i:], x) {
				return x, true
			}
		}
	}
	for _, x := range s.loose {
		if strings.Contains(p, x) {
			return x, true
		}
	}
	if status >= 400 {
		for _, x := range backupSuffixes {
			if strings.HasSuffix(p, x) {
				return "*" + x, true
			}
		}
	}
	return "", false
}

func (g *Guard) scannerSeen(r *http.Request, addr netip.Addr) {
	t := g.scen.cfg.Scanner
	n, tripped := g.scen.scanners.add(addr.String(), g.now())
	g.sink.Emit(verdict.Event(r, event.Scanner, event.Medium, event.Logged, scenarioPrefix+"scanner-user-agent",
		map[string]any{"user_agent": truncate(r.Header.Get("User-Agent"), 200), "count": n}))
	if tripped {
		g.banAndReport(addr, scenarioPrefix+"scanner-user-agent", t.BanTime,
			fmt.Sprintf("%d requests with a scanner user agent within %s", n, t.Window), verdict.Event(r, "", "", "", "", nil))
	}
}

// afterResponse feeds the path-based scenarios once the status is known.
func (g *Guard) afterResponse(r *http.Request, addr netip.Addr, status int) {
	now := g.reqNow(r)
	if pat, ok := g.scen.sensitive(r.URL.Path, status); ok {
		t := g.scen.cfg.SensitiveFiles
		n, tripped := g.scen.probes.add(addr.String(), now)
		verdict.From(r.Context()).Record(event.Probe, event.Logged, scenarioPrefix+"sensitive-file", 0)
		g.sink.Emit(verdict.Event(r, event.Probe, event.Medium, event.Logged, scenarioPrefix+"sensitive-file",
			map[string]any{"pattern": pat, "status": status, "count": n}))
		if tripped {
			g.banAndReport(addr, scenarioPrefix+"sensitive-file", t.BanTime,
				fmt.Sprintf("%d sensitive-file probes within %s (last %s)", n, t.Window, truncate(r.URL.Path, 100)), verdict.Event(r, "", "", "", "", nil))
		}
	}
	if status == http.StatusNotFound {
		t := g.scen.cfg.NotFound
		if n, tripped := g.scen.notFound.add(addr.String(), now); tripped {
			g.sink.Emit(verdict.Event(r, event.Probe, event.Medium, event.Logged, scenarioPrefix+"404-burst", map[string]any{"count": n}))
			g.banAndReport(addr, scenarioPrefix+"404-burst", t.BanTime, fmt.Sprintf("%d not-found answers within %s", n, t.Window), verdict.Event(r, "", "", "", "", nil))
		}
	}
}

// throttled feeds the flood scenario.
func (g *Guard) throttled(r *http.Request, addr netip.Addr) {
	t := g.scen.cfg.Flood
	if n, tripped := g.scen.flooder.add(addr.String(), g.now()); tripped {
		g.banAndReport(addr, scenarioPrefix+"request-flood", t.BanTime, fmt.Sprintf("%d requests over the rate limit within %s", n, t.Window), verdict.Event(r, "", "", "", "", nil))
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
