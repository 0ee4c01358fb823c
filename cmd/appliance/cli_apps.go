package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"bulwark/core/adminapi"
	"bulwark/core/adminclient"
)

func cmdApps(args []string) error {
	return sub("apps", args, map[string]func([]string) error{
		"deploy":   appsDeploy,
		"list":     appsList,
		"versions": appsVersions,
		"rollback": appsRollback,
		"rm":       appsRemove,
		"logs":     appsLogs,
	})
}

// packDir makes a tar.gz of an app folder (regular files, folders and symlinks as they are;
// the appliance checks them again when it unpacks).
func packDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname, hdr.Uid, hdr.Gid = "", "", 0, 0
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func appsDeploy(args []string) error {
	c := newCLI("apps deploy")
	pos, err := c.parse(args, 1, 1, "DIR|ARCHIVE (.tar.gz, .tgz or .zip)")
	if err != nil {
		return err
	}
	st, err := os.Stat(pos[0])
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	var data []byte
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(pos[0], "app.json")); err != nil {
			return fmt.Errorf("deploy: %s has no app.json: an app folder holds app.json and its code", pos[0])
		}
		data, err = packDir(pos[0])
	} else {
		n := strings.ToLower(pos[0])
		if !strings.HasSuffix(n, ".tar.gz") && !strings.HasSuffix(n, ".tgz") && !strings.HasSuffix(n, ".zip") {
			return fmt.Errorf("deploy: %s is neither a folder nor a .tar.gz, .tgz or .zip archive", pos[0])
		}
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		app, err := cl.Deploy(ctx, data)
		if err != nil {
			return err
		}
		if c.output == "json" {
			return c.show(app, nil)
		}
		fmt.Fprintf(c.stdout, "deployed %s version %s\n", app.Name, app.Version)
		return nil
	})
}

func appsList(args []string) error {
	return listing("apps list", (*adminclient.Client).Apps, func(w *tabwriter.Writer, list []adminapi.App) {
		fmt.Fprintln(w, "NAME\tVERSION\tENABLED\tWORKERS\tROUTES\tDEPLOYED")
		for _, a := range list {
			fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%s\t%s\n", a.Name, a.Version, a.Enabled, a.Workers, orDash(strings.Join(a.Routes, " ")), fmtTime(a.DeployedAt))
		}
	})(args)
}

func appsVersions(args []string) error {
	c := newCLI("apps versions")
	pos, err := c.parse(args, 1, 1, "NAME [--output json]")
	if err != nil {
		return err
	}
	return query(c, func(cl *adminclient.Client, ctx context.Context) ([]adminapi.AppVersion, error) {
		return cl.Versions(ctx, pos[0])
	}, func(w *tabwriter.Writer, list []adminapi.AppVersion) {
		fmt.Fprintln(w, "VERSION\tDEPLOYED\tACTIVE\tSHA256")
		for _, v := range list {
			fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", v.Version, fmtTime(v.DeployedAt), v.Active, orDash(v.Hash))
		}
	})
}

func appsRollback(args []string) error {
	c := newCLI("apps rollback")
	ver := c.fs.String("version", "", "version to activate (default: the previous one)")
	pos, err := c.parse(args, 1, 1, "NAME [--version V]")
	if err != nil {
		return err
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		app, err := cl.Rollback(ctx, pos[0], *ver)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s now serves version %s\n", app.Name, app.Version)
		return nil
	})
}

func appsRemove(args []string) error {
	c := newCLI("apps rm")
	pos, err := c.parse(args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	return c.call(func(cl *adminclient.Client, ctx context.Context) error {
		if err := cl.RemoveApp(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "removed %s\n", pos[0])
		return nil
	})
}

func appsLogs(args []string) error {
	c := newCLI("apps logs")
	n := c.fs.Int("n", 100, "number of lines")
	pos, err := c.parse(args, 1, 1, "NAME [-n N]")
	if err != nil {
		return err
	}
	if *n < 1 || *n > 10000 {
		return fmt.Errorf("-n must be 1..10000, got %d", *n)
	}
	return query(c, func(cl *adminclient.Client, ctx context.Context) ([]adminapi.LogLine, error) {
		return cl.AppLogs(ctx, pos[0], *n)
	}, func(w *tabwriter.Writer, lines []adminapi.LogLine) {
		for _, l := range lines {
			fmt.Fprintf(w, "%s\t%s\t%s\n", fmtTime(l.TS), l.Level, l.Msg)
		}
	})
}
