package alerts

import (
	"crypto/x509"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/event"
)

func bad(field, format string, args ...any) error {
	return adminapi.Errorf(400, field, format, args...)
}

func duration(field, v string, def, min, max time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, bad(field, "%q is not a duration (e.g. \"30s\", \"5m\", \"1h\")", v)
	}
	if d < min || d > max {
		return 0, bad(field, "must be between %s and %s, got %s", min, max, d)
	}
	return d, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// compile validates a rule and prepares its state.
func (e *Engine) compile(r adminapi.Rule) (*ruleState, error) {
	rs := &ruleState{groups: map[string]*group{}}
	if strings.TrimSpace(r.Name) == "" {
		return nil, bad("name", "a rule needs a name")
	}
	if len(r.Name) > 200 {
		return nil, bad("name", "at most 200 characters")
	}
	var err error
	switch r.Type {
	case adminapi.RuleThreshold:
		if r.Threshold < 1 || r.Threshold > 100000 {
			return nil, bad("threshold", "must be 1..100000, got %d", r.Threshold)
		}
		if r.Window == "" {
			return nil, bad("window", "a threshold rule needs a window (e.g. \"1m\")")
		}
		if rs.window, err = duration("window", r.Window, 0, time.Second, 24*time.Hour); err != nil {
			return nil, err
		}
	case adminapi.RuleSpike:
		if r.Factor <= 1 {
			return nil, bad("factor", "must be above 1 (e.g. 3 for three times the usual rate), got %g", r.Factor)
		}
		if r.MinCount < 0 {
			return nil, bad("min_count", "must not be negative")
		}
		if rs.window, err = duration("window", r.Window, 5*time.Minute, time.Minute, time.Hour); err != nil {
			return nil, err
		}
		if rs.window%time.Minute != 0 {
			return nil, bad("window", "a spike window is a whole number of minutes, got %s", rs.window)
		}
		if r.Window == "" {
			r.Window = rs.window.String()
		}
	case adminapi.RuleAny:
		if r.Threshold != 0 || r.Window != "" {
			return nil, bad("type", "an \"any\" rule fires on every matching event: drop threshold and window")
		}
	default:
		return nil, bad("type", "unknown rule type %q (threshold, spike or any)", r.Type)
	}
	switch r.GroupBy {
	case "", "ip", "app":
	default:
		return nil, bad("group_by", "must be \"\", \"ip\" or \"app\", got %q", r.GroupBy)
	}
	if rs.suppress, err = duration("suppress", r.Suppress, DefaultSuppress, 0, 7*24*time.Hour); err != nil {
		return nil, err
	}
	m := r.Match
	if m.Severity != "" {
		if rs.minSev = event.SeverityRank(event.Severity(m.Severity)); rs.minSev < 0 {
			return nil, bad("match.severity", "unknown severity %q (info, low, medium, high, critical)", m.Severity)
		}
	}
	if r.Severity != "" && event.SeverityRank(event.Severity(r.Severity)) < 0 {
		return nil, bad("severity", "unknown severity %q", r.Severity)
	}
	if m.Action != "" {
		switch event.Action(m.Action) {
		case event.Blocked, event.Logged, event.BannedIP, event.Throttled:
		default:
			return nil, bad("match.action", "unknown action %q", m.Action)
		}
	}
	if m.Kind == string(AlertKind) {
		return nil, bad("match.kind", "rules cannot watch alerts themselves")
	}
	if m.IP != "" {
		if strings.Contains(m.IP, "/") {
			p, err := netip.ParsePrefix(m.IP)
			if err != nil {
				return nil, bad("match.ip", "%q is not a valid CIDR", m.IP)
			}
			rs.prefix = p.Masked()
		} else {
			a, err := netip.ParseAddr(m.IP)
			if err != nil {
				return nil, bad("match.ip", "%q is not a valid IP address", m.IP)
			}
			rs.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
	}
	if len(r.Channels) == 0 {
		return nil, bad("channels", "a rule needs at least one channel")
	}
	rs.rule = r
	return rs, nil
}

func checkPEM(field, p string) error {
	if p == "" {
		return nil
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(p)) {
		return bad(field, "no PEM certificate found")
	}
	return nil
}

func checkHostPort(field, v string) error {
	h, port, err := net.SplitHostPort(v)
	if err != nil || h == "" || port == "" {
		return bad(field, "%q is not host:port", v)
	}
	return nil
}

// checkChannel validates a channel and fills defaults.
func checkChannel(c *adminapi.Channel) error {
	if !nameRE.MatchString(c.Name) {
		return bad("name", "%q must be 1-64 letters, digits, '.', '_' or '-'", c.Name)
	}
	sections := 0
	for _, set := range []bool{c.Webhook != nil, c.SMTP != nil, c.Syslog != nil} {
		if set {
			sections++
		}
	}
	switch c.Type {
	case adminapi.ChannelWebhook:
		w := c.Webhook
		if w == nil || sections != 1 {
			return bad("webhook", "a webhook channel needs exactly the \"webhook\" section")
		}
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("webhook.url", "%q is not an http(s) URL", w.URL)
		}
		if _, err := duration("webhook.timeout", w.Timeout, 0, 100*time.Millisecond, time.Minute); err != nil {
			return err
		}
		if w.Retries < 0 || w.Retries > 10 {
			return bad("webhook.retries", "must be 0..10, got %d", w.Retries)
		}
		return checkPEM("webhook.ca_cert", w.CACert)
	case adminapi.ChannelSMTP:
		s := c.SMTP
		if s == nil || sections != 1 {
			return bad("smtp", "an smtp channel needs exactly the \"smtp\" section")
		}
		if err := checkHostPort("smtp.addr", s.Addr); err != nil {
			return err
		}
		if !strings.Contains(s.From, "@") {
			return bad("smtp.from", "%q is not an e-mail address", s.From)
		}
		if len(s.To) == 0 {
			return bad("smtp.to", "at least one recipient is required")
		}
		for _, t := range s.To {
			if !strings.Contains(t, "@") || strings.ContainsAny(t, "\r\n<>") {
				return bad("smtp.to", "%q is not an e-mail address", t)
			}
		}
		if strings.ContainsAny(s.From, "\r\n<>") {
			return bad("smtp.from", "%q is not an e-mail address", s.From)
		}
		switch s.TLS {
		case "", adminapi.SMTPStartTLS:
		case adminapi.SMTPImplicitTLS:
			if s.Insecure {
				return bad("smtp.insecure", "implicit TLS never falls back to plain text: drop insecure, or set tls to %q for a plain-text relay", adminapi.SMTPStartTLS)
			}
		default:
			return bad("smtp.tls", "must be %q (STARTTLS, usually port 587) or %q (implicit TLS, usually port 465), got %q",
				adminapi.SMTPStartTLS, adminapi.SMTPImplicitTLS, s.TLS)
		}
		if s.Insecure && s.Password != "" {
			return bad("smtp.insecure", "a password is never sent without TLS: drop insecure or the password")
		}
		if s.Password != "" && s.Username == "" {
			return bad("smtp.username", "required with a password")
		}
		if _, err := duration("smtp.timeout", s.Timeout, 0, 100*time.Millisecond, time.Minute); err != nil {
			return err
		}
		return checkPEM("smtp.ca_cert", s.CACert)
	case adminapi.ChannelSyslog:
		s := c.Syslog
		if s == nil || sections != 1 {
			return bad("syslog", "a syslog channel needs exactly the \"syslog\" section")
		}
		switch s.Network {
		case "udp", "tcp", "tls":
		default:
			return bad("syslog.network", "must be udp, tcp or tls, got %q", s.Network)
		}
		if err := checkHostPort("syslog.addr", s.Addr); err != nil {
			return err
		}
		if s.Facility < 0 || s.Facility > 23 {
			return bad("syslog.facility", "must be 0..23, got %d", s.Facility)
		}
		if s.AppName != "" && (len(s.AppName) > 48 || strings.ContainsAny(s.AppName, " \t\r\n")) {
			return bad("syslog.app_name", "at most 48 printable characters without spaces")
		}
		return checkPEM("syslog.ca_cert", s.CACert)
	case adminapi.ChannelConsole:
		if sections != 0 {
			return bad("type", "a console channel has no settings")
		}
		return nil
	}
	return bad("type", "unknown channel type %q (webhook, smtp, syslog, console)", c.Type)
}
