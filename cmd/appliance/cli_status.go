package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
)

func cmdStatus(args []string) error {
	return listing("status", (*adminclient.Client).Status, func(w *tabwriter.Writer, st adminapi.Status) {
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
	})(args)
}
