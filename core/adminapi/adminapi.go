// Package adminapi holds the wire types of the admin API, shared by the server (core/admin),
// the typed client (core/adminclient), the CLI and the console, so that both ends of the
// JSON agree by construction. It has no behaviour beyond parsing query filters.
package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"bulwark/core/event"
)

// Prefix is where every API route lives.
const Prefix = "/api/v1"

// Error is the JSON body of every failed request, and an error services return to choose
// the status code and name the offending field.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Errorf builds an Error.
func Errorf(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Sentinels services may wrap; the server maps them to 404, 409 and 501.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("not available on this appliance")
)

// Status is GET /status.
type Status struct {
	Version       string            `json:"version"`
	StartedAt     time.Time         `json:"started_at"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Listeners     []Listener        `json:"listeners"`
	Certificates  []CertInfo        `json:"certificates"`
	EventDrops    map[string]uint64 `json:"event_drops"`
	Workers       []WorkerHealth    `json:"workers"`
	Client        Identity          `json:"client"`
}

// Listener is one open socket of the appliance.
type Listener struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// CertInfo is a certificate the appliance serves with, and when it expires.
type CertInfo struct {
	Name     string    `json:"name"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// WorkerHealth summarizes the sandbox workers of one app.
type WorkerHealth struct {
	App      string `json:"app"`
	Workers  int    `json:"workers"`
	Healthy  int    `json:"healthy"`
	Restarts int    `json:"restarts"`
}

// Identity is who the admin API thinks is calling.
type Identity struct {
	Name   string    `json:"name"`
	Role   string    `json:"role"`
	Serial string    `json:"serial"`
	Expiry time.Time `json:"expiry"`
}

// Client is one issued client certificate.
type Client struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Serial    string    `json:"serial"`
	IssuedAt  time.Time `json:"issued_at"`
	NotAfter  time.Time `json:"not_after"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Enrolled  bool      `json:"enrolled,omitempty"`
}

// IssueRequest is POST /clients. The response is the bundle file's JSON.
type IssueRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Days int    `json:"days,omitempty"`
}

// EnrollRequest is POST /clients/enroll: invite NAME to enroll with its own key.
type EnrollRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	TTL  string `json:"ttl,omitempty"` // Go duration, default from config
}

// EnrollResponse carries the printed token.
type EnrollResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// RedeemRequest is POST /enroll, the only call answered without a client certificate.
type RedeemRequest struct {
	Secret string `json:"secret"`
	CSR    string `json:"csr"` // PEM certificate request for an ECDSA P-256 key
}

// RedeemResponse is the signed certificate and what a bundle needs around it.
type RedeemResponse struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Endpoint string `json:"endpoint"`
	CA       string `json:"ca"`
	Cert     string `json:"cert"`
}

// RenewRequest is POST /clients/renew: a caller renews its own certificate for a new key.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewResponse is the new certificate.
type RenewResponse struct {
	Cert string `json:"cert"`
}

// RevokeResponse is DELETE /clients/{name}.
type RevokeResponse struct {
	Revoked int `json:"revoked"`
}

// Ban is one banned address or network.
type Ban struct {
	IP      string    `json:"ip"` // address or CIDR
	Reason  string    `json:"reason,omitempty"`
	Source  string    `json:"source,omitempty"` // "admin:NAME" or the detector
	Created time.Time `json:"created"`
	Until   time.Time `json:"until,omitzero"` // zero = until removed
}

// BanRequest is POST /access/bans.
type BanRequest struct {
	IP       string `json:"ip"`
	Duration string `json:"duration,omitempty"` // Go duration; empty = until removed
	Reason   string `json:"reason,omitempty"`
}

// AccessEntry is one allow- or deny-list entry.
type AccessEntry struct {
	CIDR    string    `json:"cidr"`
	Note    string    `json:"note,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

// AccessRequest is POST /access/allow and /access/deny.
type AccessRequest struct {
	CIDR string `json:"cidr"`
	Note string `json:"note,omitempty"`
}

// App is a deployed app.
type App struct {
	Name       string          `json:"name"`
	Version    string          `json:"version"`
	Enabled    bool            `json:"enabled"`
	Routes     []string        `json:"routes,omitempty"`
	Limits     json.RawMessage `json:"limits,omitempty"`
	Workers    int             `json:"workers"`
	DeployedAt time.Time       `json:"deployed_at,omitzero"`
	// LastHour are the app's figures over the last hour (absent from appliances that do not
	// count them).
	LastHour *AppCounts `json:"last_hour,omitempty"`
}

// AppCounts are one app's figures over a period.
type AppCounts struct {
	Requests  int64 `json:"requests"`   // routed to the app
	Errors    int64 `json:"errors"`     // answered 5xx (app errors, crashes, overload, timeouts)
	Blocked   int64 `json:"blocked"`    // blocked by the defenses (WAF, CSRF, lists, bans)
	LimitHits int64 `json:"limit_hits"` // rate limits and sandbox limits (CPU, memory, egress)
}

// AppVersion is one stored version of an app.
type AppVersion struct {
	Version    string    `json:"version"`
	DeployedAt time.Time `json:"deployed_at"`
	Active     bool      `json:"active"`
	Hash       string    `json:"hash,omitempty"`
}

// RollbackRequest is POST /apps/{name}/rollback; an empty version means the previous one.
type RollbackRequest struct {
	Version string `json:"version,omitempty"`
}

// LogLine is one console line of an app.
type LogLine struct {
	TS    time.Time `json:"ts"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
}

// EventFilter selects events. Zero fields do not filter.
type EventFilter struct {
	Since    time.Time `json:"since,omitzero"`
	Until    time.Time `json:"until,omitzero"`
	Kind     string    `json:"kind,omitempty"`     // one kind, or several separated by commas
	Severity string    `json:"severity,omitempty"` // this severity or worse
	Action   string    `json:"action,omitempty"`
	IP       string    `json:"ip,omitempty"`
	App      string    `json:"app,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Text     string    `json:"q,omitempty"`      // substring of path or detail
	Cursor   string    `json:"cursor,omitempty"` // EventPage.Next of the previous page
	Limit    int       `json:"limit,omitempty"`
}

// MaxLimit caps one page of events.
const MaxLimit = 1000

// Values encodes f as query parameters.
func (f EventFilter) Values() url.Values {
	v := url.Values{}
	if !f.Since.IsZero() {
		v.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		v.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	for k, s := range map[string]string{"kind": f.Kind, "severity": f.Severity, "action": f.Action, "ip": f.IP, "app": f.App, "rule": f.Rule, "q": f.Text} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Cursor != "" {
		v.Set("cursor", f.Cursor)
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	return v
}

// ParseTime accepts RFC 3339 or a Go duration meaning "that long before now".
func ParseTime(field, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, Errorf(400, field, "%q is neither an RFC 3339 time nor a duration like \"15m\"", s)
}

// ParseEventFilter reads a filter from query parameters, naming the bad one on error.
func ParseEventFilter(q url.Values, now time.Time) (EventFilter, error) {
	var f EventFilter
	known := map[string]bool{"since": true, "until": true, "kind": true, "severity": true, "action": true, "ip": true, "app": true, "rule": true, "q": true, "cursor": true, "limit": true, "by": true, "n": true, "bucket": true}
	for k := range q {
		if !known[k] {
			return f, Errorf(400, k, "unknown query parameter %q", k)
		}
	}
	var err error
	if s := q.Get("since"); s != "" {
		if f.Since, err = ParseTime("since", s, now); err != nil {
			return f, err
		}
	}
	if s := q.Get("until"); s != "" {
		if f.Until, err = ParseTime("until", s, now); err != nil {
			return f, err
		}
	}
	f.Kind, f.Action, f.IP, f.App, f.Rule, f.Text = q.Get("kind"), q.Get("action"), q.Get("ip"), q.Get("app"), q.Get("rule"), q.Get("q")
	for _, k := range strings.Split(f.Kind, ",") {
		if strings.TrimSpace(k) == "" && f.Kind != "" {
			return f, Errorf(400, "kind", "%q has an empty kind", f.Kind)
		}
	}
	if s := q.Get("severity"); s != "" {
		if event.SeverityRank(event.Severity(s)) < 0 {
			return f, Errorf(400, "severity", "unknown severity %q (info, low, medium, high, critical)", s)
		}
		f.Severity = s
	}
	if s := q.Get("action"); s != "" {
		switch event.Action(s) {
		case event.Blocked, event.Logged, event.BannedIP, event.Throttled:
		default:
			return f, Errorf(400, "action", "unknown action %q (blocked, logged, banned, throttled)", s)
		}
	}
	f.Cursor = q.Get("cursor")
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return f, Errorf(400, "limit", "must be 1..%d, got %q", MaxLimit, s)
		}
		f.Limit = n
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if strings.ContainsAny(f.IP, " \t") {
		return f, Errorf(400, "ip", "%q is not an address", f.IP)
	}
	return f, nil
}

// EventPage is GET /events: newest first; Next is the cursor of the following page ("" = end).
type EventPage struct {
	Events []event.Event `json:"events"`
	Next   string        `json:"next,omitempty"`
	// Total is how many events match the filter on all pages (db.Page.Total: counted on the
	// first page and carried in Next). TotalCapped: at least Total, counting stopped there.
	Total       int64 `json:"total"`
	TotalCapped bool  `json:"total_capped,omitempty"`
}

// StatsBucket counts events in one time bucket (per minute by default).
type StatsBucket struct {
	TS      time.Time        `json:"ts"`
	Count   int64            `json:"count"`
	Blocked int64            `json:"blocked"`
	ByKind  map[string]int64 `json:"by_kind,omitempty"`
}

// TopEntry is one row of GET /events/top.
type TopEntry struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// TopBy lists what /events/top can rank.
var TopBy = []string{"ip", "rule", "path", "kind"}

// StreamEvent is one server-sent event of /events/stream; Seq is its SSE id.
type StreamEvent struct {
	Seq   uint64      `json:"seq"`
	Event event.Event `json:"event"`
}

// AuditEntry is one change made through the API.
type AuditEntry struct {
	ID     int64     `json:"id"`
	TS     time.Time `json:"ts"`
	Client string    `json:"client"`
	Role   string    `json:"role"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Detail string    `json:"detail,omitempty"`
}
