package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
)

func cmdEvents(args []string) error {
	return sub("events", args, map[string]func([]string) error{
		"tail":  eventsTail,
		"query": eventsQuery,
		"top":   eventsTop,
	})
}

// filterFlags adds the event filter flags to c.
func filterFlags(c *cli, f *adminapi.EventFilter) (since, until *string) {
	since = c.fs.String("since", "", "RFC 3339 time or a duration before now (e.g. 1h)")
	until = c.fs.String("until", "", "RFC 3339 time or a duration before now")
	c.fs.StringVar(&f.Kind, "kind", "", "event kind(s), comma separated (xss, sqli, login_failed, ...)")
	c.fs.StringVar(&f.Severity, "severity", "", "this severity or worse (info, low, medium, high, critical)")
	c.fs.StringVar(&f.Action, "action", "", "blocked, logged, banned or throttled")
	c.fs.StringVar(&f.IP, "ip", "", "client address")
	c.fs.StringVar(&f.App, "app", "", "app name")
	c.fs.StringVar(&f.Rule, "rule", "", "rule id")
	c.fs.StringVar(&f.Text, "q", "", "text in the path or detail")
	return since, until
}

// finishFilter validates the flags locally with the server's own parser, so a typo fails
// before any network traffic with the same message the API would give.
func finishFilter(f *adminapi.EventFilter, since, until string) error {
	v := f.Values()
	if since != "" {
		v.Set("since", since)
	}
	if until != "" {
		v.Set("until", until)
	}
	parsed, err := adminapi.ParseEventFilter(v, time.Now())
	if err != nil {
		var ae *adminapi.Error
		if errors.As(err, &ae) && ae.Field != "" {
			return fmt.Errorf("--%s: %s", ae.Field, ae.Message)
		}
		return err
	}
	limit := f.Limit
	*f = parsed
	if limit == 0 {
		f.Limit = 0
	}
	return nil
}

func eventLine(e adminapi.StreamEvent) string {
	return fmt.Sprintf("%s  %-8s %-8s %-20s %-15s %s %s%s  %s", e.Event.TS.Local().Format("15:04:05.000"), e.Event.Severity, e.Event.Action, e.Event.Kind, orDash(e.Event.IP), orDash(e.Event.Method), e.Event.Host, e.Event.Path, e.Event.Rule)
}

func eventsTail(args []string) error {
	c := newCLI("events tail")
	var f adminapi.EventFilter
	filterFlags(c, &f)
	count := c.fs.Int("count", 0, "stop after this many events (0 = until Ctrl-C)")
	dur := c.fs.Duration("for", 0, "stop after this long (0 = until Ctrl-C)")
	if _, err := c.parse(args, 0, 0, "[--kind K] [--severity S] [--ip IP] [--app A] [--count N] [--for D] [--output json]"); err != nil {
		return err
	}
	if err := finishFilter(&f, "", ""); err != nil {
		return err
	}
	if *count < 0 {
		return fmt.Errorf("--count must be positive, got %d", *count)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	if *dur > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, *dur)
		defer c2()
	}
	// Fail fast on a bad bundle or an unreachable appliance before streaming.
	sctx, scancel := c.ctx()
	_, err = cl.Status(sctx)
	scancel()
	if err != nil {
		return err
	}
	n := 0
	stop := errors.New("done")
	enc := json.NewEncoder(c.stdout)
	err = cl.Stream(ctx, f, 0, func(e adminapi.StreamEvent) error {
		if c.output == "json" {
			enc.Encode(e)
		} else {
			fmt.Fprintln(c.stdout, eventLine(e))
		}
		n++
		if *count > 0 && n >= *count {
			return stop
		}
		return nil
	})
	if errors.Is(err, stop) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

func eventsQuery(args []string) error {
	c := newCLI("events query")
	var f adminapi.EventFilter
	since, until := filterFlags(c, &f)
	c.fs.IntVar(&f.Limit, "limit", 50, "events per page (1..1000)")
	c.fs.StringVar(&f.Cursor, "cursor", "", "page cursor printed by the previous query")
	if _, err := c.parse(args, 0, 0, "[filters] [--limit N] [--cursor C] [--output json]"); err != nil {
		return err
	}
	if err := finishFilter(&f, *since, *until); err != nil {
		return err
	}
	var shown adminapi.EventPage
	err := query(c, func(cl *adminclient.Client, ctx context.Context) (adminapi.EventPage, error) {
		page, err := cl.Events(ctx, f)
		shown = page
		return page, err
	}, func(w *tabwriter.Writer, page adminapi.EventPage) {
		fmt.Fprintln(w, "ID\tTIME\tSEVERITY\tACTION\tKIND\tIP\tAPP\tREQUEST\tRULE")
		for _, e := range page.Events {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s %s%s\t%s\n", e.ID, fmtTime(e.TS), e.Severity, e.Action, e.Kind, orDash(e.IP), orDash(e.App), orDash(e.Method), e.Host, e.Path, orDash(e.Rule))
		}
	})
	if err == nil && c.output == "table" {
		fmt.Fprintln(c.stdout, showingLine(shown))
		if shown.Next != "" {
			fmt.Fprintf(c.stdout, "more: --cursor %s\n", shown.Next)
		}
	}
	return err
}

// showingLine is the table's footer: "showing 50 of 1,234 events", or "of more than
// 100,000" when the appliance stopped counting.
func showingLine(p adminapi.EventPage) string {
	of := thousands(p.Total)
	if p.TotalCapped {
		of = "more than " + of
	}
	noun := "events"
	if p.Total == 1 && !p.TotalCapped {
		noun = "event"
	}
	return fmt.Sprintf("showing %s of %s %s", thousands(int64(len(p.Events))), of, noun)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func eventsTop(args []string) error {
	c := newCLI("events top")
	var f adminapi.EventFilter
	since := c.fs.String("since", "1h", "window start: RFC 3339 time or duration before now")
	until := c.fs.String("until", "", "window end")
	by := c.fs.String("by", "ip", "rank by "+strings.Join(adminapi.TopBy, ", "))
	n := c.fs.Int("n", 10, "entries")
	if _, err := c.parse(args, 0, 0, "[--by ip|rule|path|kind] [--n 10] [--since 1h] [--output json]"); err != nil {
		return err
	}
	if err := finishFilter(&f, *since, *until); err != nil {
		return err
	}
	f.Limit = 0
	ok := false
	for _, b := range adminapi.TopBy {
		ok = ok || b == *by
	}
	if !ok {
		return fmt.Errorf("--by must be one of %s, got %q", strings.Join(adminapi.TopBy, ", "), *by)
	}
	return query(c, func(cl *adminclient.Client, ctx context.Context) ([]adminapi.TopEntry, error) {
		return cl.Top(ctx, f, *by, *n)
	}, func(w *tabwriter.Writer, list []adminapi.TopEntry) {
		fmt.Fprintf(w, "%s\tEVENTS\n", strings.ToUpper(*by))
		for _, t := range list {
			fmt.Fprintf(w, "%s\t%d\n", t.Key, t.Count)
		}
	})
}
