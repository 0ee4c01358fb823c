package main

import (
	"fmt"
	"text/tabwriter"
	"time"
)

func cmdStatus(args []string) error {
	c := newCLI("status")
	if _, err := c.parse(args, 0, 0, "[--output json]"); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	return c.show(st, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "version\t%s\n", st.Version)
		fmt.Fprintf(w, "uptime\t%s\n", (time.Duration(st.UptimeSeconds) * time.Second).String())
		fmt.Fprintf(w, "you\t%s (%s), certificate until %s\n", st.Client.Name, st.Client.Role, fmtTime(st.Client.Expiry))
		for _, l := range st.Listeners {
			fmt.Fprintf(w, "listener %s\t%s\n", l.Name, l.Addr)
		}
		for _, c := range st.Certificates {
			fmt.Fprintf(w, "certificate %s\t%s until %s\n", c.Name, c.Subject, fmtTime(c.NotAfter))
		}
		for n, d := range st.EventDrops {
			fmt.Fprintf(w, "event drops %s\t%d\n", n, d)
		}
		for _, h := range st.Workers {
			fmt.Fprintf(w, "app %s\t%d/%d workers healthy, %d restarts\n", h.App, h.Healthy, h.Workers, h.Restarts)
		}
	})
}
