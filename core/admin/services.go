package admin

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"bulwark/core/adminapi"
)

// Services are the subsystems the API exposes. Each is optional: a nil one answers 501.
// Errors of type *adminapi.Error choose their status and field; errors wrapping
// adminapi.ErrNotFound / ErrConflict / ErrUnavailable become 404 / 409 / 501.
type Services struct {
	Apps     AppsService
	Bans     BansService
	Lists    ListsService
	Events   EventsQuery
	Policies ConfigService
	Settings ConfigService
	Alerts   AlertsService
	// Status fills in what only the composition root knows: listeners, certificates of the
	// public side, worker health. The admin server adds version, uptime, drops and its own
	// certificates.
	Status func(context.Context, *adminapi.Status)
	// Metrics adds samples from other subsystems to /metrics.
	Metrics []MetricsSource
}

// AppsService manages deployed apps (core/apps).
type AppsService interface {
	List(ctx context.Context) ([]adminapi.App, error)
	// Deploy takes an archive (tar.gz or zip of an app folder); a bad one is refused with
	// the old version still serving.
	Deploy(ctx context.Context, archive []byte) (adminapi.App, error)
	Versions(ctx context.Context, name string) ([]adminapi.AppVersion, error)
	Rollback(ctx context.Context, name, version string) (adminapi.App, error)
	Remove(ctx context.Context, name string) error
	SetLimits(ctx context.Context, name string, limits json.RawMessage) (adminapi.App, error)
	SetEnabled(ctx context.Context, name string, enabled bool) (adminapi.App, error)
	Logs(ctx context.Context, name string, n int) ([]adminapi.LogLine, error)
}

// BansService is the ban decision store (core/guard). A zero duration bans until removed.
type BansService interface {
	Bans(ctx context.Context) ([]adminapi.Ban, error)
	Ban(ctx context.Context, p netip.Prefix, d time.Duration, reason, source string) (adminapi.Ban, error)
	Unban(ctx context.Context, p netip.Prefix) error
}

// ListsService holds the allow and deny lists; list is "allow" or "deny".
type ListsService interface {
	List(ctx context.Context, list string) ([]adminapi.AccessEntry, error)
	Add(ctx context.Context, list string, p netip.Prefix, note string) error
	Remove(ctx context.Context, list string, p netip.Prefix) error
}

// EventsQuery reads the event store (db).
type EventsQuery interface {
	Query(ctx context.Context, f adminapi.EventFilter) (adminapi.EventPage, error)
	Stats(ctx context.Context, f adminapi.EventFilter, bucket time.Duration) ([]adminapi.StatsBucket, error)
	Top(ctx context.Context, f adminapi.EventFilter, by string, n int) ([]adminapi.TopEntry, error)
}

// ConfigService reads and replaces named JSON documents: policies (html, egress, waf,
// headers) or settings sections (domains, listeners, retention). Put validates and applies
// live, or refuses with an *adminapi.Error naming the field.
type ConfigService interface {
	Names() []string
	Get(ctx context.Context, name string) (json.RawMessage, error)
	Put(ctx context.Context, name string, doc json.RawMessage) error
}

// AlertsService is the alert engine (core/alerts implements it).
type AlertsService interface {
	Rules() []adminapi.Rule
	PutRule(r adminapi.Rule) (adminapi.Rule, error)
	DeleteRule(id string) error
	Channels() []adminapi.Channel
	PutChannel(c adminapi.Channel) error
	DeleteChannel(name string) error
	TestChannel(ctx context.Context, name string) (adminapi.Delivery, error)
	History(limit int) []adminapi.Firing
	Acknowledge(id int64, by string, resolve bool) (adminapi.Firing, error)
}

// Metric is one sample for /metrics.
type Metric struct {
	Name   string // e.g. bulwark_waf_seconds_total
	Help   string
	Type   string // counter or gauge
	Labels map[string]string
	Value  float64
}

// MetricsSource returns current samples; it is called on every scrape.
type MetricsSource func() []Metric
