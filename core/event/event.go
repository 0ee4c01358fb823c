// Package event defines the malicious-traffic event every defense emits and the bus that
// carries events to the store, the detectors and the live stream without ever blocking a
// request. Events are append-only records with stable fields (DESIGN.md, "Events").
package event

import (
	"encoding/json"
	"time"
)

// Kind classifies what was seen.
type Kind string

// The kinds of DESIGN.md. New kinds may be added; existing ones never change meaning.
const (
	XSS                Kind = "xss"
	SQLi               Kind = "sqli"
	Traversal          Kind = "traversal"
	Probe              Kind = "probe"
	Scanner            Kind = "scanner"
	WAF                Kind = "waf"
	CSRF               Kind = "csrf"
	RateLimit          Kind = "rate_limit"
	Banned             Kind = "banned"
	LoginFailed        Kind = "login_failed"
	LoginNewIP         Kind = "login_new_ip"
	CredentialStuffing Kind = "credential_stuffing"
	AccountChanged     Kind = "account_changed"
	SandboxCPU         Kind = "sandbox_cpu"
	SandboxMemory      Kind = "sandbox_memory"
	SandboxCrash       Kind = "sandbox_crash"
	EgressDenied       Kind = "egress_denied"
	AdminAuth          Kind = "admin_auth"
)

// Action says what the appliance did about it.
type Action string

const (
	Blocked   Action = "blocked"
	Logged    Action = "logged"
	BannedIP  Action = "banned"
	Throttled Action = "throttled"
)

// Severity orders events for alerting and display.
type Severity string

const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// SeverityRank maps a severity to an order (info=0 … critical=4); unknown is -1.
func SeverityRank(s Severity) int {
	switch s {
	case Info:
		return 0
	case Low:
		return 1
	case Medium:
		return 2
	case High:
		return 3
	case Critical:
		return 4
	}
	return -1
}

// Event is one verdict. ID is assigned by the store when the event is written.
type Event struct {
	ID       int64           `json:"id"`
	TS       time.Time       `json:"ts"`
	Kind     Kind            `json:"kind"`
	Severity Severity        `json:"severity"`
	Action   Action          `json:"action"`
	IP       string          `json:"ip"`
	Method   string          `json:"method"`
	Host     string          `json:"host"`
	Path     string          `json:"path"`
	App      string          `json:"app"`
	Rule     string          `json:"rule"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

// Sink receives events. Emit must never block the caller for long: implementations drop and
// count rather than wait.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(e Event) { f(e) }

// Discard is a Sink that drops everything (for tools and tests that do not care).
var Discard Sink = SinkFunc(func(Event) {})

// DetailJSON marshals v for Event.Detail; it never fails (an unmarshalable v becomes an
// error string) so callers on the request path need no error handling.
func DetailJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"detail_error": err.Error()})
	}
	return b
}
