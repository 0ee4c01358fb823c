package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
)

func cmdAlerts(args []string) error {
	return sub("alerts", args, map[string]func([]string) error{
		"rules":    alertsRules,
		"channels": alertsChannels,
		"history":  alertsHistory,
		"ack":      alertsAck,
	})
}

// readJSONFile decodes FILE ("-" = stdin) strictly into v.
func readJSONFile(path string, v any) error {
	var b []byte
	var err error
	if path == "-" {
		b, err = readAllStdin()
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readAllStdin() ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(os.Stdin)
	return buf.Bytes(), err
}

// alertsRules: "alerts rules" lists; "alerts rules add FILE" and "alerts rules rm ID" change.
func alertsRules(args []string) error {
	c := newCLI("alerts rules")
	pos, err := c.parse(args, 0, 2, "[list | add FILE.json | rm ID] [--output json]")
	if err != nil {
		return err
	}
	return c.collection(pos, shown(c, (*adminclient.Client).Rules, func(w *tabwriter.Writer, list []adminapi.Rule) {
		fmt.Fprintln(w, "ID\tNAME\tTYPE\tMATCH\tTHRESHOLD\tWINDOW\tGROUP\tSUPPRESS\tCHANNELS")
		for _, r := range list {
			m, _ := json.Marshal(r.Match)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Type, m, r.Threshold, orDash(r.Window), orDash(r.GroupBy), orDash(r.Suppress), strings.Join(r.Channels, ","))
		}
	}), itemVerb{"add", "FILE.json", func(cl *adminclient.Client, ctx context.Context, file string) error {
		var r adminapi.Rule
		if err := readJSONFile(file, &r); err != nil {
			return err
		}
		out, err := cl.PutRule(ctx, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "rule %s saved\n", out.ID)
		return nil
	}}, itemVerb{"rm", "ID", func(cl *adminclient.Client, ctx context.Context, id string) error {
		if err := cl.DeleteRule(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "rule %s removed\n", id)
		return nil
	}})
}

func alertsChannels(args []string) error {
	c := newCLI("alerts channels")
	pos, err := c.parse(args, 0, 2, "[list | add FILE.json | rm NAME | test NAME] [--output json]")
	if err != nil {
		return err
	}
	return c.collection(pos, shown(c, (*adminclient.Client).Channels, func(w *tabwriter.Writer, list []adminapi.Channel) {
		fmt.Fprintln(w, "NAME\tTYPE\tDESTINATION")
		for _, ch := range list {
			dest := "-"
			switch {
			case ch.Webhook != nil:
				dest = ch.Webhook.URL
			case ch.SMTP != nil:
				dest = ch.SMTP.Addr + " → " + strings.Join(ch.SMTP.To, ",")
			case ch.Syslog != nil:
				dest = ch.Syslog.Network + "://" + ch.Syslog.Addr
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", ch.Name, ch.Type, dest)
		}
	}), itemVerb{"add", "FILE.json", func(cl *adminclient.Client, ctx context.Context, file string) error {
		var ch adminapi.Channel
		if err := readJSONFile(file, &ch); err != nil {
			return err
		}
		if err := cl.PutChannel(ctx, ch); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "channel %s saved\n", ch.Name)
		return nil
	}}, itemVerb{"rm", "NAME", func(cl *adminclient.Client, ctx context.Context, name string) error {
		if err := cl.DeleteChannel(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "channel %s removed\n", name)
		return nil
	}}, itemVerb{"test", "NAME", func(cl *adminclient.Client, ctx context.Context, name string) error {
		d, err := cl.TestChannel(ctx, name)
		if err != nil {
			return err
		}
		if !d.OK {
			return fmt.Errorf("test alert through %s failed after %d attempt(s): %s", name, d.Attempts, d.Error)
		}
		fmt.Fprintf(c.stdout, "test alert delivered through %s\n", name)
		return nil
	}})
}

func alertsHistory(args []string) error {
	c := newCLI("alerts history")
	limit := c.fs.Int("limit", 50, "entries")
	if _, err := c.parse(args, 0, 0, "[--limit N] [--output json]"); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return fmt.Errorf("--limit must be 1..10000, got %d", *limit)
	}
	return query(c, func(cl *adminclient.Client, ctx context.Context) ([]adminapi.Firing, error) {
		return cl.Alerts(ctx, *limit)
	}, func(w *tabwriter.Writer, list []adminapi.Firing) {
		fmt.Fprintln(w, "ID\tTIME\tSTATE\tSEVERITY\tRULE\tGROUP\tCOUNT\tDELIVERED\tSUMMARY")
		for _, f := range list {
			var ok []string
			for _, d := range f.Deliveries {
				mark := "ok"
				if !d.OK {
					mark = "FAILED"
				}
				ok = append(ok, d.Channel+":"+mark)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", f.ID, fmtTime(f.TS), f.State, f.Severity, f.RuleName, orDash(f.Group), f.Count, orDash(strings.Join(ok, " ")), f.Summary)
		}
	})
}

func alertsAck(args []string) error {
	c := newCLI("alerts ack")
	resolve := c.fs.Bool("resolve", false, "resolve (close) instead of acknowledging")
	pos, err := c.parse(args, 1, 1, "ID [--resolve]")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("%q is not an alert id (see 'bulwark alerts history')", pos[0])
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		f, err := cl.Ack(ctx, id, *resolve)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "alert %d %s\n", f.ID, f.State)
		return nil
	})
}
