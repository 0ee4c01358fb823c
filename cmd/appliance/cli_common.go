package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"bulwark/core/adminclient"
	"bulwark/core/config"
)

// BundleFile is the first admin bundle's name in the data folder.
const BundleFile = "admin.bundle"

// cli holds what every admin-API command shares: where the bundle is, how to print.
type cli struct {
	fs      *flag.FlagSet
	bundle  string
	data    string
	output  string
	timeout time.Duration
	stdout  io.Writer
}

// newCLI makes the flag set of "bulwark GROUP VERB" with the common flags.
func newCLI(name string) *cli {
	c := &cli{fs: flag.NewFlagSet("bulwark "+name, flag.ContinueOnError), stdout: os.Stdout}
	c.fs.StringVar(&c.bundle, "bundle", "", "admin bundle file (default $BULWARK_BUNDLE, else DATA/admin.bundle)")
	c.fs.StringVar(&c.data, "data", config.Default().Data, "data folder holding admin.bundle")
	c.fs.StringVar(&c.output, "output", "table", "table or json")
	c.fs.DurationVar(&c.timeout, "timeout", 15*time.Second, "deadline of one call")
	return c
}

// parse accepts flags before, between and after positional arguments, and checks the count.
func (c *cli) parse(args []string, minPos, maxPos int, usage string) ([]string, error) {
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: %s %s\n", c.fs.Name(), usage)
		c.fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, err
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if c.output != "table" && c.output != "json" {
		return nil, fmt.Errorf("--output must be table or json, got %q", c.output)
	}
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		return nil, fmt.Errorf("usage: %s %s", c.fs.Name(), usage)
	}
	return pos, nil
}

// bundlePath resolves --bundle, $BULWARK_BUNDLE, DATA/admin.bundle in that order.
func (c *cli) bundlePath() string {
	if c.bundle != "" {
		return c.bundle
	}
	if env := os.Getenv("BULWARK_BUNDLE"); env != "" {
		return env
	}
	return filepath.Join(c.data, BundleFile)
}

func (c *cli) client() (*adminclient.Client, error) {
	return adminclient.Open(c.bundlePath())
}

func (c *cli) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// call opens the bundle's client and runs one admin-API call under the --timeout deadline.
// The client comes first, as the receiver does in a method expression.
func (c *cli) call(do func(cl *adminclient.Client, ctx context.Context) error) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	return do(cl, ctx)
}

// query runs one admin-API call and shows its answer: as JSON with --output json, else as
// the table. get may be a method expression such as (*adminclient.Client).Bans.
func query[T any](c *cli, get func(*adminclient.Client, context.Context) (T, error), table func(w *tabwriter.Writer, v T)) error {
	return c.call(shown(c, get, table))
}

// shown is the body of query, for a command that picks its call only once the client is open.
func shown[T any](c *cli, get func(*adminclient.Client, context.Context) (T, error), table func(w *tabwriter.Writer, v T)) func(*adminclient.Client, context.Context) error {
	return func(cl *adminclient.Client, ctx context.Context) error {
		v, err := get(cl, ctx)
		if err != nil {
			return err
		}
		return c.show(v, func(w *tabwriter.Writer) { table(w, v) })
	}
}

// itemVerb is a verb of a collection command that acts on one item named by its argument.
type itemVerb struct {
	name string // add, rm, ...
	arg  string // what the argument is, for the usage message: FILE.json, ID, NAME
	run  func(cl *adminclient.Client, ctx context.Context, arg string) error
}

// collection runs "bulwark GROUP NOUN [list | VERB ARG]" with pos parsed by c: no verb or
// "list" runs list; any other verb must be one of verbs and have its argument.
func (c *cli) collection(pos []string, list func(*adminclient.Client, context.Context) error, verbs ...itemVerb) error {
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		verb := "list"
		if len(pos) > 0 {
			verb = pos[0]
		}
		if verb == "list" {
			return list(cl, ctx)
		}
		known := []string{"list"}
		for _, v := range verbs {
			if v.name == verb {
				if len(pos) != 2 {
					return fmt.Errorf("usage: %s %s %s", c.fs.Name(), v.name, v.arg)
				}
				return v.run(cl, ctx, pos[1])
			}
			known = append(known, v.name)
		}
		return fmt.Errorf("unknown %s command %q (%s)", strings.TrimPrefix(c.fs.Name(), "bulwark "), verb, strings.Join(known, ", "))
	})
}

// listing is a command without positional arguments that shows one call's answer.
func listing[T any](name string, get func(*adminclient.Client, context.Context) (T, error), table func(w *tabwriter.Writer, v T)) func([]string) error {
	return func(args []string) error {
		c := newCLI(name)
		if _, err := c.parse(args, 0, 0, "[--output json]"); err != nil {
			return err
		}
		return query(c, get, table)
	}
}

// interruptible is a context ended by Ctrl-C (for tail).
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// show prints v as JSON with --output json, else calls table.
func (c *cli) show(v any, table func(w *tabwriter.Writer)) error {
	if c.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// sub dispatches "bulwark GROUP VERB ...".
func sub(group string, args []string, verbs map[string]func([]string) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		var names []string
		for v := range verbs {
			names = append(names, v)
		}
		sortStrings(names)
		msg := fmt.Sprintf("usage: bulwark %s %s", group, strings.Join(names, "|"))
		if len(args) == 0 {
			return errors.New(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		return nil
	}
	f, ok := verbs[args[0]]
	if !ok {
		return fmt.Errorf("unknown %s command %q", group, args[0])
	}
	return f(args[1:])
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
