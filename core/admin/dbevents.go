package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/event"
	"bulwark/db"
)

// DBEvents answers event queries from the SQLite store.
type DBEvents struct{ DB *db.DB }

func dbErr(err error) error {
	var fe *db.FilterError
	if errors.As(err, &fe) {
		return adminapi.Errorf(400, fe.Field, "%s", fe.Msg)
	}
	return err
}

// worseOrEqual lists the severities at least as bad as s.
func worseOrEqual(s string) []event.Severity {
	if s == "" {
		return nil
	}
	r := event.SeverityRank(event.Severity(s))
	var out []event.Severity
	for _, v := range []event.Severity{event.Info, event.Low, event.Medium, event.High, event.Critical} {
		if event.SeverityRank(v) >= r {
			out = append(out, v)
		}
	}
	return out
}

func toDBFilter(f adminapi.EventFilter) db.EventFilter {
	d := db.EventFilter{Since: f.Since, Until: f.Until, IP: f.IP, App: f.App, Rule: f.Rule, Text: f.Text, Cursor: f.Cursor, Limit: f.Limit, Severities: worseOrEqual(f.Severity)}
	if f.Kind != "" {
		for _, k := range strings.Split(f.Kind, ",") {
			d.Kinds = append(d.Kinds, event.Kind(strings.TrimSpace(k)))
		}
	}
	if f.Action != "" {
		d.Actions = []event.Action{event.Action(f.Action)}
	}
	return d
}

// Query returns a page of events.
func (d DBEvents) Query(ctx context.Context, f adminapi.EventFilter) (adminapi.EventPage, error) {
	p, err := d.DB.Events(ctx, toDBFilter(f))
	if err != nil {
		return adminapi.EventPage{}, dbErr(err)
	}
	return adminapi.EventPage{Events: p.Events, Next: p.Next, Total: p.Total, TotalCapped: p.TotalCapped}, nil
}

func window(f adminapi.EventFilter) (time.Time, time.Time) {
	since, until := f.Since, f.Until
	if until.IsZero() {
		until = time.Now()
	}
	if since.IsZero() {
		since = until.Add(-time.Hour)
	}
	return since, until
}

// Stats returns per-bucket counts from the per-minute rollups (filters other than the time
// window and kind do not apply to the rollups and are refused).
func (d DBEvents) Stats(ctx context.Context, f adminapi.EventFilter, bucket time.Duration) ([]adminapi.StatsBucket, error) {
	if f.IP != "" || f.App != "" || f.Rule != "" || f.Text != "" || f.Severity != "" {
		return nil, adminapi.Errorf(400, "", "stats are counted per kind and action only: drop ip, app, rule, severity and q")
	}
	since, until := window(f)
	s, err := d.DB.Series(ctx, since, until, bucket)
	if err != nil {
		return nil, dbErr(err)
	}
	kinds := map[event.Kind]bool{}
	if f.Kind != "" {
		for _, k := range strings.Split(f.Kind, ",") {
			kinds[event.Kind(strings.TrimSpace(k))] = true
		}
	}
	out := make([]adminapi.StatsBucket, len(s.Total))
	for i := range s.Total {
		b := adminapi.StatsBucket{TS: s.Start.Add(time.Duration(i) * s.Step).UTC(), ByKind: map[string]int64{}}
		for k, v := range s.ByKind {
			if len(kinds) > 0 && !kinds[k] {
				continue
			}
			if v[i] > 0 {
				b.ByKind[string(k)] = v[i]
			}
			b.Count += v[i]
		}
		if len(kinds) == 0 {
			b.Count = s.Total[i]
			if v, ok := s.ByAction[event.Blocked]; ok {
				b.Blocked = v[i]
			}
		}
		out[i] = b
	}
	return out, nil
}

// Top ranks IPs, rules, paths (hourly rollups plus ragged edges) or kinds.
func (d DBEvents) Top(ctx context.Context, f adminapi.EventFilter, by string, n int) ([]adminapi.TopEntry, error) {
	if f.IP != "" || f.App != "" || f.Rule != "" || f.Text != "" || f.Severity != "" || f.Kind != "" || f.Action != "" {
		return nil, adminapi.Errorf(400, "", "top counts over a time window only: use since and until")
	}
	since, until := window(f)
	var (
		list []db.Top
		err  error
	)
	switch by {
	case "ip":
		list, err = d.DB.TopIPs(ctx, since, until, n)
	case "rule":
		list, err = d.DB.TopRules(ctx, since, until, n)
	case "path":
		list, err = d.DB.TopPaths(ctx, since, until, n)
	case "kind":
		c, cerr := d.DB.Counts(ctx, since, until)
		if cerr != nil {
			return nil, dbErr(cerr)
		}
		for k, v := range c.ByKind {
			list = append(list, db.Top{Value: string(k), Count: v})
		}
		sortTop(list)
		if len(list) > n {
			list = list[:n]
		}
	default:
		return nil, adminapi.Errorf(400, "by", "cannot rank by %q", by)
	}
	if err != nil {
		return nil, dbErr(err)
	}
	out := make([]adminapi.TopEntry, len(list))
	for i, t := range list {
		out[i] = adminapi.TopEntry{Key: t.Value, Count: t.Count}
	}
	return out, nil
}

func sortTop(l []db.Top) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && (l[j].Count > l[j-1].Count || (l[j].Count == l[j-1].Count && l[j].Value < l[j-1].Value)); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}
