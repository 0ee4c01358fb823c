package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
)

func cmdBans(args []string) error {
	return sub("bans", args, map[string]func([]string) error{
		"add":  bansAdd,
		"rm":   bansRemove,
		"list": bansList,
	})
}

func cmdAllow(args []string) error { return accessCmd("allow", args) }
func cmdDeny(args []string) error  { return accessCmd("deny", args) }

// checkAddr validates an address or CIDR locally (the API checks again).
func checkAddr(what, v string) error {
	if strings.Contains(v, "/") {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Errorf("%s %q is not a valid CIDR (e.g. 203.0.113.0/24)", what, v)
		}
		return nil
	}
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Errorf("%s %q is not a valid IP address", what, v)
	}
	return nil
}

func bansAdd(args []string) error {
	c := newCLI("bans add")
	dur := c.fs.String("for", "", "ban duration, e.g. 1h (default: until removed)")
	reason := c.fs.String("reason", "", "why (shown in lists and events)")
	pos, err := c.parse(args, 1, 1, "IP|CIDR [--for 1h] [--reason TEXT]")
	if err != nil {
		return err
	}
	if err := checkAddr("address", pos[0]); err != nil {
		return err
	}
	if *dur != "" {
		d, err := time.ParseDuration(*dur)
		if err != nil || d <= 0 {
			return fmt.Errorf("--for %q is not a positive duration (e.g. 30m, 24h)", *dur)
		}
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		b, err := cl.Ban(ctx, pos[0], *dur, *reason)
		if err != nil {
			return err
		}
		until := "until removed"
		if !b.Until.IsZero() {
			until = "until " + fmtTime(b.Until)
		}
		fmt.Fprintf(c.stdout, "banned %s %s\n", b.IP, until)
		return nil
	})
}

func bansRemove(args []string) error {
	c := newCLI("bans rm")
	pos, err := c.parse(args, 1, 1, "IP|CIDR")
	if err != nil {
		return err
	}
	if err := checkAddr("address", pos[0]); err != nil {
		return err
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		if err := cl.Unban(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "unbanned %s\n", pos[0])
		return nil
	})
}

func bansList(args []string) error {
	return listing("bans list", (*adminclient.Client).Bans, func(w *tabwriter.Writer, list []adminapi.Ban) {
		fmt.Fprintln(w, "ADDRESS\tUNTIL\tSOURCE\tREASON\tSINCE")
		for _, b := range list {
			until := "removed"
			if !b.Until.IsZero() {
				until = fmtTime(b.Until)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.IP, until, orDash(b.Source), orDash(b.Reason), fmtTime(b.Created))
		}
	})(args)
}

func accessCmd(list string, args []string) error {
	return sub(list, args, map[string]func([]string) error{
		"add": func(args []string) error {
			c := newCLI(list + " add")
			note := c.fs.String("note", "", "why")
			pos, err := c.parse(args, 1, 1, "CIDR [--note TEXT]")
			if err != nil {
				return err
			}
			if err := checkAddr("CIDR", pos[0]); err != nil {
				return err
			}
			return c.call(func(cl *adminclient.Client, ctx context.Context) error {
				if err := cl.AccessAdd(ctx, list, pos[0], *note); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "added %s to the %s list\n", pos[0], list)
				return nil
			})
		},
		"rm": func(args []string) error {
			c := newCLI(list + " rm")
			pos, err := c.parse(args, 1, 1, "CIDR")
			if err != nil {
				return err
			}
			if err := checkAddr("CIDR", pos[0]); err != nil {
				return err
			}
			return c.call(func(cl *adminclient.Client, ctx context.Context) error {
				if err := cl.AccessRemove(ctx, list, pos[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "removed %s from the %s list\n", pos[0], list)
				return nil
			})
		},
		"list": listing(list+" list", func(cl *adminclient.Client, ctx context.Context) ([]adminapi.AccessEntry, error) {
			return cl.Access(ctx, list)
		}, func(w *tabwriter.Writer, l []adminapi.AccessEntry) {
			fmt.Fprintln(w, "CIDR\tNOTE\tADDED")
			for _, e := range l {
				fmt.Fprintf(w, "%s\t%s\t%s\n", e.CIDR, orDash(e.Note), fmtTime(e.Created))
			}
		}),
	})
}
