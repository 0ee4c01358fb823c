package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"bulwark/core/admin"
	"bulwark/core/adminapi"
	"bulwark/core/adminbundle"
	"bulwark/core/adminclient"
	"bulwark/core/clients"
	"bulwark/core/config"
	"bulwark/core/pki"
)

func cmdAdmin(args []string) error {
	return sub("admin", args, map[string]func([]string) error{
		"issue":  adminIssue,
		"list":   adminList,
		"revoke": adminRevoke,
		"enroll": adminEnroll,
		"join":   adminJoin,
		"renew":  adminRenew,
	})
}

func writeNewBundle(b *adminbundle.Bundle, out string, force bool) error {
	if out == "" {
		return errors.New("--out FILE is required: where to write the bundle")
	}
	if _, err := os.Stat(out); err == nil && !force {
		return fmt.Errorf("%s exists: choose another --out or pass --force", out)
	}
	return b.Write(out)
}

func adminIssue(args []string) error {
	c := newCLI("admin issue")
	role := c.fs.String("role", adminbundle.RoleViewer, "admin or viewer")
	days := c.fs.Int("days", 0, "validity in days (default: the appliance's, 90)")
	out := c.fs.String("out", "", "bundle file to write (mode 0600)")
	force := c.fs.Bool("force", false, "replace an existing file")
	pos, err := c.parse(args, 1, 1, "NAME [--role admin|viewer] [--days N] --out FILE")
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required: where to write the bundle")
	}
	if !adminbundle.ValidRole(*role) {
		return fmt.Errorf("--role must be admin or viewer, got %q", *role)
	}
	if *days < 0 {
		return fmt.Errorf("--days must be positive, got %d", *days)
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		b, err := cl.Issue(ctx, pos[0], *role, *days)
		if err != nil {
			return err
		}
		if err := writeNewBundle(b, *out, *force); err != nil {
			return err
		}
		exp, _ := b.Expiry()
		fmt.Fprintf(c.stdout, "wrote %s for %s (%s), valid until %s\n", *out, b.Name, b.Role, fmtTime(exp))
		return nil
	})
}

func adminList(args []string) error {
	return listing("admin list", (*adminclient.Client).Clients, func(w *tabwriter.Writer, list []adminapi.Client) {
		now := time.Now()
		fmt.Fprintln(w, "NAME\tROLE\tSERIAL\tEXPIRES\tLAST USED\tSTATE")
		for _, x := range list {
			state := "active"
			switch {
			case !x.RevokedAt.IsZero():
				state = "revoked"
			case !now.Before(x.NotAfter):
				state = "expired"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Role, x.Serial, fmtTime(x.NotAfter), fmtTime(x.LastUsed), state)
		}
	})(args)
}

func adminRevoke(args []string) error {
	c := newCLI("admin revoke")
	pos, err := c.parse(args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		n, err := cl.Revoke(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "revoked %d certificate(s) of %s; refused from the next request on\n", n, pos[0])
		return nil
	})
}

func adminEnroll(args []string) error {
	c := newCLI("admin enroll")
	role := c.fs.String("role", adminbundle.RoleViewer, "admin or viewer")
	ttl := c.fs.String("ttl", "", "how long the token stays usable (default 15m)")
	pos, err := c.parse(args, 1, 1, "NAME [--role admin|viewer] [--ttl 15m]")
	if err != nil {
		return err
	}
	if !adminbundle.ValidRole(*role) {
		return fmt.Errorf("--role must be admin or viewer, got %q", *role)
	}
	if *ttl != "" {
		if _, err := time.ParseDuration(*ttl); err != nil {
			return fmt.Errorf("--ttl %q is not a duration (e.g. 15m)", *ttl)
		}
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		r, err := cl.Invite(ctx, pos[0], *role, *ttl)
		if err != nil {
			return err
		}
		if c.output == "json" {
			return c.show(r, nil)
		}
		fmt.Fprintln(c.stdout, r.Token)
		fmt.Fprintf(os.Stderr, "one-time token for %s (%s), usable until %s:\n  bulwark admin join TOKEN --out FILE   (or import it in the console)\n", pos[0], *role, fmtTime(r.Expires))
		return nil
	})
}

func adminJoin(args []string) error {
	c := newCLI("admin join")
	out := c.fs.String("out", "", "bundle file to write (mode 0600)")
	force := c.fs.Bool("force", false, "replace an existing file")
	pos, err := c.parse(args, 1, 1, "TOKEN --out FILE")
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required: where to write the bundle")
	}
	ctx, cancel := c.ctx()
	defer cancel()
	b, err := adminclient.Enroll(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := writeNewBundle(b, *out, *force); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "enrolled as %s (%s); bundle written to %s\n", b.Name, b.Role, *out)
	return nil
}

func adminRenew(args []string) error {
	c := newCLI("admin renew")
	out := c.fs.String("out", "", "where to write the renewed bundle (default: replace the bundle used)")
	if _, err := c.parse(args, 0, 0, "[--out FILE]"); err != nil {
		return err
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		b, err := cl.Renew(ctx)
		if err != nil {
			return err
		}
		dest := *out
		if dest == "" {
			dest = c.bundlePath()
		}
		if err := b.Write(dest); err != nil {
			return err
		}
		exp, _ := b.Expiry()
		fmt.Fprintf(c.stdout, "renewed %s until %s: %s\n", b.Name, fmtTime(exp), dest)
		return nil
	})
}

// writeFirstAdminBundle gives `bulwark init` the first admin bundle at DATA/admin.bundle,
// unless one is there already (init is idempotent). It works without a running appliance:
// the client register is a file in the data folder.
func writeFirstAdminBundle(cfg config.Config, ca *pki.CA) (string, error) {
	path := filepath.Join(cfg.Data, BundleFile)
	if _, err := os.Stat(path); err == nil {
		if _, err := adminbundle.Load(path); err != nil {
			return path, fmt.Errorf("existing first admin bundle: %w", err)
		}
		return path, nil
	}
	reg, err := clients.Open(cfg.Data, ca)
	if err != nil {
		return path, err
	}
	name := "admin"
	for i := 2; reg.HasActive(name); i++ { // a previous bundle was deleted: do not collide with its name
		name = fmt.Sprintf("admin%d", i)
	}
	b, err := reg.Issue(name, adminbundle.RoleAdmin, cfg.Admin.ClientValidity.D(), admin.EndpointFor(cfg.Admin, cfg.Admin.Listen))
	if err != nil {
		return path, fmt.Errorf("first admin bundle: %w", err)
	}
	if err := b.Write(path); err != nil {
		return path, err
	}
	return path, nil
}
