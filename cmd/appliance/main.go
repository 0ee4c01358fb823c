// Command bulwark is the appliance daemon and its command-line client.
//
//	bulwark serve [--config FILE] [--data DIR]   run the appliance
//	bulwark init  [--config FILE] [--data DIR]   create the CA, certificates and first admin bundle
//
// The admin commands (apps, events, bans, admin, ...) talk to a running appliance over the
// mutual-TLS admin API.
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	summary string
	hidden  bool
	run     func(args []string) error
}

// commands lists every subcommand in one place.
func commands() map[string]command {
	return map[string]command{
		"serve":          {summary: "run the appliance", run: cmdServe},
		"init":           {summary: "create the data folder, CA, certificates and first admin bundle", run: cmdInit},
		"sandbox-worker": {summary: "run one app's sandboxed worker (started by the appliance)", hidden: true, run: cmdSandboxWorker},
		"admin":          {summary: "client bundles: issue, list, revoke, enroll, join, renew", run: cmdAdmin},
		"apps":           {summary: "apps: deploy, list, versions, rollback, rm, logs", run: cmdApps},
		"events":         {summary: "events: tail, query, top", run: cmdEvents},
		"bans":           {summary: "bans: add, rm, list", run: cmdBans},
		"allow":          {summary: "allow list: add, rm, list", run: cmdAllow},
		"deny":           {summary: "deny list: add, rm, list", run: cmdDeny},
		"alerts":         {summary: "alerts: rules, channels, history, ack", run: cmdAlerts},
		"status":         {summary: "show the appliance's status", run: cmdStatus},
	}
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "bulwark: unknown command %q (see 'bulwark --help')\n", args[0])
		return 2
	}
	if err := c.run(args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bulwark %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(cmds map[string]command) {
	fmt.Fprintln(os.Stderr, "usage: bulwark COMMAND [flags]\n\ncommands:")
	var names []string
	for n, c := range cmds {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nrun 'bulwark COMMAND --help' for a command's flags")
}
