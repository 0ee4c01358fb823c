// Package source is what the console's screens are built from: the Appliance interface (one
// appliance's admin API as the console needs it) and the plain data it returns. It lives apart
// from the screens so that the fake in ui/fake and the real admin client can both implement it
// without importing Fyne, and so the screens' tests can use the fake. Nothing here touches the
// network: implementations do.
package source

import (
	"context"
	"errors"
	"time"

	"bulwark/core/event"
)

// Appliance is one connected appliance. Every method may be slow or fail; the console calls
// them off the UI goroutine only.
type Appliance interface {
	Status(ctx context.Context) (Status, error)

	Events(ctx context.Context, f EventFilter) (EventPage, error)
	// Stats returns per-bucket counts split by kind and action since the given time.
	Stats(ctx context.Context, since time.Time, bucket time.Duration) ([]StatBucket, error)
	Top(ctx context.Context, what TopKind, since time.Time, n int) ([]TopEntry, error)
	// Stream delivers new events until ctx ends or the connection drops (channel closed).
	Stream(ctx context.Context) (<-chan event.Event, error)

	Access(ctx context.Context) (AccessLists, error)
	AddAccess(ctx context.Context, list List, cidr, note string) error
	RemoveAccess(ctx context.Context, list List, cidr string) error
	Ban(ctx context.Context, ip string, d time.Duration, reason string) error
	Unban(ctx context.Context, ip string) error

	Apps(ctx context.Context) ([]App, error)
	// Deploy uploads a folder or archive; progress is called with each step as it happens.
	Deploy(ctx context.Context, path string, progress func(DeployStep)) (App, error)
	Versions(ctx context.Context, app string) ([]AppVersion, error)
	Rollback(ctx context.Context, app string, version string) error
	SetLimits(ctx context.Context, app string, l Limits) error
	SetEnabled(ctx context.Context, app string, on bool) error
	AppLog(ctx context.Context, app string, lines int) ([]string, error)

	Policies(ctx context.Context) (Policies, error)
	SetHTMLPolicy(ctx context.Context, p HTMLPolicy) error
	SetEgress(ctx context.Context, app string, hosts []string) error
	SetWAF(ctx context.Context, w WAFSettings) error
	AddWAFExclusion(ctx context.Context, x WAFExclusion) error
	RemoveWAFExclusion(ctx context.Context, x WAFExclusion) error
	SetHeadersProfile(ctx context.Context, profile string) error

	AlertRules(ctx context.Context) ([]AlertRule, error)
	SaveAlertRule(ctx context.Context, r AlertRule) error
	DeleteAlertRule(ctx context.Context, name string) error
	Channels(ctx context.Context) ([]Channel, error)
	SaveChannel(ctx context.Context, c Channel) error
	// DeleteChannel removes a channel; the appliance refuses while a rule uses it.
	DeleteChannel(ctx context.Context, name string) error
	TestChannel(ctx context.Context, name string) error
	AlertHistory(ctx context.Context, limit int) ([]Alert, error)
	Acknowledge(ctx context.Context, id int64) error

	Clients(ctx context.Context) ([]Client, error)
	// IssueClient returns a new client bundle file's bytes for a colleague.
	IssueClient(ctx context.Context, name string) ([]byte, error)
	RevokeClient(ctx context.Context, name string) error

	// Close releases connections; the Appliance is not used afterwards.
	Close() error
}

// Connector turns what the operator brings (a bundle file, an enrollment token) into a
// connected Appliance. ParseBundle is local; Enroll and Open talk to the appliance.
type Connector interface {
	// ParseBundle decodes a bundle file. It does not check expiry or reachability.
	ParseBundle(data []byte) (Bundle, error)
	// Enroll redeems a one-time token (which names the appliance and pins its CA): it makes
	// a key in this process, sends only a certificate request, and returns the complete
	// bundle. The key never leaves the desktop.
	Enroll(ctx context.Context, token string) (Bundle, error)
	// Open connects with a bundle and checks the appliance accepts it. Errors wrap
	// ErrUnreachable or ErrRefused when that is the cause.
	Open(ctx context.Context, b Bundle) (Appliance, error)
}

// Errors a Connector wraps so the console can say what went wrong in the operator's words.
var (
	ErrUnreachable = errors.New("appliance unreachable")
	ErrRefused     = errors.New("appliance refused the certificate")
)

// Bundle is what an admin client needs to reach one appliance over mutual TLS.
type Bundle struct {
	Name    string `json:"name"`  // client name (certificate CN)
	Addr    string `json:"addr"`  // admin API host:port
	CAPEM   string `json:"ca"`    // the appliance CA
	CertPEM string `json:"cert"`  // the client certificate
	KeyPEM  string `json:"key"`   // the client key
	Label   string `json:"label"` // what the operator calls this appliance
}

// Status is the appliance's own summary.
type Status struct {
	Name          string        `json:"name"`
	Version       string        `json:"version"`
	Uptime        time.Duration `json:"uptime"`
	EventsDropped int64         `json:"events_dropped"`
}

// EventFilter selects events; zero fields match everything.
type EventFilter struct {
	Since, Until time.Time
	Kind         event.Kind
	Severity     event.Severity
	Action       event.Action
	IP, App      string
	Rule, Text   string
	Offset       int
	Limit        int
}

// EventPage is one page of events, newest first. Total is how many events match the
// filter on all pages together; when TotalCapped, at least Total match (the appliance
// stopped counting at its cap, or did not count and Total is what the pages so far
// showed). More says a further page exists.
type EventPage struct {
	Events      []event.Event
	Total       int
	TotalCapped bool
	More        bool
}

// StatBucket counts events of one kind in one time bucket, and how many of them were
// blocked. A row may carry only Blocked (Kind empty, Count 0) when the appliance does not
// split blocking by kind.
type StatBucket struct {
	Start   time.Time
	Kind    event.Kind
	Count   int
	Blocked int
}

// TopKind names what Top ranks.
type TopKind string

const (
	TopIPs   TopKind = "ip"
	TopRules TopKind = "rule"
	TopPaths TopKind = "path"
)

// TopEntry is one ranked value.
type TopEntry struct {
	Value string
	Count int
}

// List names an access list.
type List string

const (
	Allowlist List = "allow"
	Denylist  List = "deny"
)

// AccessEntry is one allow or deny entry.
type AccessEntry struct {
	CIDR  string
	Note  string
	Added time.Time
}

// BanEntry is one active ban.
type BanEntry struct {
	IP     string
	Reason string
	Until  time.Time
}

// AccessLists is the whole access state.
type AccessLists struct {
	Allow, Deny []AccessEntry
	Bans        []BanEntry
}

// App is one deployed app.
type App struct {
	Name     string
	Version  string
	Enabled  bool
	Status   string // "running", "stopped", "crashed", ...
	Routes   []string
	Requests int64 // -1: the appliance does not report it
	Errors   int64 // -1: the appliance does not report it
	Blocked  int64 // in the last hour
	Limits   Limits
	Egress   []string
}

// Limits are an app's resource limits (DESIGN.md, app.json "limits" and "permissions.kv").
type Limits struct {
	MemoryMB       int `json:"memory_mb"`
	CPUMs          int `json:"cpu_ms"`
	WallMs         int `json:"wall_ms"`
	Workers        int `json:"workers"`
	Concurrency    int `json:"concurrency"`
	RequestBodyKB  int `json:"request_body_kb"`
	ResponseBodyKB int `json:"response_body_kb"`
	Subrequests    int `json:"subrequests"`
	KVQuotaKB      int `json:"kv_quota_kb"`
}

// AppVersion is one deployed version of an app.
type AppVersion struct {
	Version  string
	Deployed time.Time
	By       string
	Current  bool
}

// DeployStep is one step of a deploy, reported as it happens.
type DeployStep struct {
	Step     string  // "upload", "bundle", "check", "activate"
	Fraction float64 // 0..1 of the whole deploy
	Message  string
}

// Policies is every policy the console edits.
type Policies struct {
	HTML           HTMLPolicy
	WAF            WAFSettings
	Exclusions     []WAFExclusion
	HeadersProfile string
	HeadersChoices []string
	// Notes are things the operator should know about these policies (shown on the screen).
	Notes []string
}

// HTMLPolicy is the sanitizer whitelist: tags with their allowed attributes, and URL schemes.
type HTMLPolicy struct {
	Tags    []TagRule `json:"tags"`
	Schemes []string  `json:"schemes"`
}

// TagRule allows one tag and the listed attributes on it.
type TagRule struct {
	Tag   string   `json:"tag"`
	Attrs []string `json:"attrs"`
}

// WAFSettings are the WAF's global mode and paranoia level.
type WAFSettings struct {
	Mode     string // "block", "detect", "off"
	Paranoia int    // 1..4
}

// WAFExclusion disables one rule on one path prefix (optionally for one app).
type WAFExclusion struct {
	Rule string
	Path string
	App  string
}

// RuleType is how an alert rule decides to fire (core/alerts' three kinds).
type RuleType string

const (
	// RuleThreshold fires when Threshold matching events arrive within Window.
	RuleThreshold RuleType = "threshold"
	// RuleSpike fires when the last Window holds Factor times the previous hour's average
	// per Window (and at least MinCount events).
	RuleSpike RuleType = "spike"
	// RuleAny fires on every matching event (e.g. each sandbox_crash or admin_auth).
	RuleAny RuleType = "any"
)

// RuleTypes lists the rule types in the order the editor offers them.
var RuleTypes = []RuleType{RuleThreshold, RuleSpike, RuleAny}

// AlertRule is one alert rule: which events it watches (Kind, MinSeverity), how it decides
// to fire (Type and that type's fields), how it groups and quiets repeats, and where the
// alert goes. Fields of another type are zero.
type AlertRule struct {
	// ID is the appliance's id of the rule ("" for one not saved yet); saving with an ID
	// replaces that rule, so a rule can be renamed.
	ID          string
	Name        string
	Type        RuleType   // empty reads as RuleThreshold
	Kind        event.Kind // empty: any kind
	MinSeverity event.Severity
	Threshold   int           // threshold: events that fire the rule
	Window      time.Duration // threshold: the sliding window; spike: the compared window (whole minutes)
	Factor      float64       // spike: ratio over the previous hour's average
	MinCount    int           // spike: windows with fewer events never fire
	GroupBy     string        // "", "ip" or "app": one alert per group
	Suppress    time.Duration // quiet time per group after it fired; 0: the appliance's default
	Channels    []string
	Enabled     bool
}

// Channel types the console offers.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
	ChannelSyslog  = "syslog"
	ChannelConsole = "console" // the appliance's live stream (this console's feed)
)

// ChannelTypes lists the channel types in the order the editor offers them.
var ChannelTypes = []string{ChannelWebhook, ChannelEmail, ChannelSyslog, ChannelConsole}

// Channel is where alerts go. Exactly the settings of its Type are set when it comes from
// the appliance or goes to it; Target is a one-line summary for tables.
type Channel struct {
	Name    string
	Type    string // one of ChannelTypes
	Target  string
	Webhook *WebhookSettings
	Email   *EmailSettings
	Syslog  *SyslogSettings
}

// WebhookSettings post each alert as signed JSON.
type WebhookSettings struct {
	URL string
	// Secret signs the body (HMAC-SHA256). It is write-only: the appliance never sends it
	// back, SecretSet says one is stored. On save an empty Secret with SecretSet keeps the
	// stored one; an empty Secret without it means "none".
	Secret    string
	SecretSet bool
	Timeout   time.Duration // per attempt; 0: the appliance's default
	Retries   int
	CACert    string // PEM trusted for an https URL with a private CA
}

// Mail transport security.
const (
	SecuritySTARTTLS = "starttls" // STARTTLS required (submission, usually port 587)
	SecurityTLS      = "tls"      // implicit TLS from the first byte (submissions, usually port 465)
	SecurityNone     = "none"     // plain text to a trusted local relay (never with a password)
)

// EmailSettings send each alert as a mail through a submission server.
type EmailSettings struct {
	Host     string
	Port     int
	Security string // SecuritySTARTTLS, SecurityTLS or SecurityNone
	Username string
	// Password is write-only like WebhookSettings.Secret: PasswordSet says one is stored, and
	// on save an empty Password with PasswordSet keeps it.
	Password    string
	PasswordSet bool
	From        string
	To          []string
	CACert      string // PEM trusted for the server's certificate (STARTTLS or TLS)
}

// SyslogSettings send RFC 5424 messages.
type SyslogSettings struct {
	Network  string // udp, tcp or tls
	Host     string
	Port     int
	Facility int // 0..23; 0 reads as the appliance's default (auth)
	AppName  string
	CACert   string // PEM trusted for tls
}

// FieldError is the appliance refusing a value, naming the field at fault by its admin
// API name (e.g. "smtp.addr", "factor"), so the console can show it beside that field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Alert is one fired alert.
type Alert struct {
	ID       int64
	Rule     string
	Fired    time.Time
	Severity event.Severity
	Summary  string
	Acked    bool
	AckedBy  string
}

// Client is one issued admin client certificate.
type Client struct {
	Name    string
	Serial  string
	Issued  time.Time
	Expires time.Time
	Revoked bool
}
