package adminapi

import "time"

// Rule kinds.
const (
	RuleThreshold = "threshold" // at least Threshold matching events within Window
	RuleSpike     = "spike"     // the last Window's count is Factor times the previous hour's average per Window
	RuleAny       = "any"       // every matching event
)

// Match selects the events a rule counts. Empty fields match everything.
type Match struct {
	Kind     string `json:"kind,omitempty"`
	Severity string `json:"severity,omitempty"` // this severity or worse
	App      string `json:"app,omitempty"`
	IP       string `json:"ip,omitempty"` // address or CIDR
	Action   string `json:"action,omitempty"`
}

// Rule is an alert rule.
type Rule struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"` // threshold, spike, any
	Match     Match    `json:"match"`
	Threshold int      `json:"threshold,omitempty"`
	Window    string   `json:"window,omitempty"`    // Go duration, e.g. "1m"
	Factor    float64  `json:"factor,omitempty"`    // spike: ratio over the previous hour's rate
	MinCount  int      `json:"min_count,omitempty"` // spike: ignore windows with fewer events
	GroupBy   string   `json:"group_by,omitempty"`  // "", "ip" or "app": one alert per group
	Suppress  string   `json:"suppress,omitempty"`  // Go duration: no new alert for the same group meanwhile
	Severity  string   `json:"severity,omitempty"`  // severity of the alert itself
	Channels  []string `json:"channels"`
	Disabled  bool     `json:"disabled,omitempty"`
}

// Channel types.
const (
	ChannelWebhook = "webhook"
	ChannelSMTP    = "smtp"
	ChannelSyslog  = "syslog"
	ChannelConsole = "console"
)

// SecretMask stands for a stored webhook secret or SMTP password: listings show it instead of
// the secret (secrets are write-only), and a channel sent back with it keeps the stored one.
const SecretMask = "********"

// Channel is a destination for alerts. Exactly the section of its Type is set.
type Channel struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Webhook *WebhookConfig `json:"webhook,omitempty"`
	SMTP    *SMTPConfig    `json:"smtp,omitempty"`
	Syslog  *SyslogConfig  `json:"syslog,omitempty"`
}

// WebhookConfig posts the alert as JSON; the body is signed with HMAC-SHA256 in the
// X-Bulwark-Signature header ("sha256=" + hex) when Secret is set.
type WebhookConfig struct {
	URL     string `json:"url"`
	Secret  string `json:"secret,omitempty"`
	Timeout string `json:"timeout,omitempty"` // per attempt, default 5s
	Retries int    `json:"retries,omitempty"` // extra attempts, default 3
	CACert  string `json:"ca_cert,omitempty"` // PEM trusted for an https URL with a private CA
}

// SMTP transport security (SMTPConfig.TLS).
const (
	SMTPStartTLS    = "starttls" // plain connect, then STARTTLS (the default: "" means this)
	SMTPImplicitTLS = "implicit" // TLS from the first byte, "submissions" on port 465 (RFC 8314)
)

// SMTPConfig sends mail through a submission server over TLS — STARTTLS (required unless
// Insecure) or implicit TLS — and PLAIN authentication when Username is set. Documents
// stored before TLS existed decode with TLS "" and keep the STARTTLS behaviour.
type SMTPConfig struct {
	Addr     string   `json:"addr"` // host:port
	From     string   `json:"from"`
	To       []string `json:"to"`
	Username string   `json:"username,omitempty"`
	Password string   `json:"password,omitempty"`
	TLS      string   `json:"tls,omitempty"`      // "" or "starttls", or "implicit"
	Insecure bool     `json:"insecure,omitempty"` // STARTTLS only: allow plain text (never with a password)
	CACert   string   `json:"ca_cert,omitempty"`  // PEM trusted for the server's certificate
	Timeout  string   `json:"timeout,omitempty"`
}

// SyslogConfig sends RFC 5424 messages over udp, tcp (octet-counted framing) or tls.
type SyslogConfig struct {
	Network  string `json:"network"` // udp, tcp, tls
	Addr     string `json:"addr"`
	Facility int    `json:"facility,omitempty"` // default 4 (auth) … 23
	AppName  string `json:"app_name,omitempty"`
	CACert   string `json:"ca_cert,omitempty"`
}

// Firing states.
const (
	StateOpen         = "open"
	StateAcknowledged = "acknowledged"
	StateResolved     = "resolved"
)

// Firing is one alert raised by a rule for a group.
type Firing struct {
	ID         int64      `json:"id"`
	RuleID     string     `json:"rule_id"`
	RuleName   string     `json:"rule_name"`
	Severity   string     `json:"severity"`
	Group      string     `json:"group,omitempty"`
	Count      int        `json:"count"`
	Window     string     `json:"window,omitempty"`
	FirstTS    time.Time  `json:"first_ts"`
	TS         time.Time  `json:"ts"`
	Summary    string     `json:"summary"`
	State      string     `json:"state"`
	AckBy      string     `json:"ack_by,omitempty"`
	AckAt      time.Time  `json:"ack_at,omitzero"`
	Suppressed int        `json:"suppressed"` // later crossings folded into this one
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is the outcome of sending a firing to one channel.
type Delivery struct {
	Channel  string    `json:"channel"`
	OK       bool      `json:"ok"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// AckRequest is POST /alerts/history/{id}/ack; Resolve closes it instead.
type AckRequest struct {
	Resolve bool   `json:"resolve,omitempty"`
	Note    string `json:"note,omitempty"`
}
