package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"bulwark/core/admin"
	"bulwark/core/appliance"
	"bulwark/core/config"
	"bulwark/core/sdlisten"
)

// loadConfig parses --config and --data for serve and init: embedded defaults, overlaid by
// the file when given, with --data winning over the file's data key.
func loadConfig(name string, args []string) (config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "TOML configuration file (default: embedded defaults)")
	data := fs.String("data", "", "data folder (default: the config's data key, else ./data)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return cfg, err
	}
	if *data != "" {
		cfg.Data = *data
		if err := cfg.Validate(); err != nil {
			return cfg, fmt.Errorf("--data: %w", err)
		}
	}
	return cfg, nil
}

// cmdServe runs the appliance until SIGTERM or SIGINT, then drains in-flight requests
// within server.shutdown_timeout. A fresh data folder is initialized first, as `init` would.
func cmdServe(args []string) error {
	cfg, ini, bundle, err := initialize("serve", args)
	if err != nil {
		return err
	}
	a, err := appliance.New(cfg)
	if err != nil {
		return oneLine(err)
	}
	svc := admin.Services{} // services: wired as they land
	saved, err := a.SavedBans()
	if err != nil {
		a.Close()
		return oneLine(err)
	}
	def, err := a.UseGuard(appliance.GuardOptions{SavedBans: saved})
	if err != nil {
		a.Close()
		return oneLine(err)
	}
	svc.Bans = admin.GuardBans{Guard: def.Guard}
	pol, err := a.UsePolicies(def, appliance.PolicyOptions{})
	if err != nil {
		a.Close()
		return oneLine(err)
	}
	svc.Lists, svc.Policies = pol.Lists, pol.Docs
	if m, err := a.UseApps(context.Background(), def.Capabilities()); err != nil {
		a.Close()
		return oneLine(err)
	} else if m != nil {
		def.BindApps(m)
		svc.Apps = appliance.AppsService(m)
	}
	w, err := a.UseWAF(pol, def.AppOf)
	if err != nil {
		a.Close()
		return oneLine(err)
	}
	if err := a.UseAppWAF(def, pol, w); err != nil {
		a.Close()
		return oneLine(err)
	}
	if _, err := a.AddAdminPlane(ini.CA, svc); err != nil {
		a.Close()
		return oneLine(err)
	}
	if a.Listeners, err = sdlisten.Listeners(); err != nil {
		a.Close()
		return oneLine(fmt.Errorf("systemd sockets: %w", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := a.Listen(); err != nil {
		a.Close()
		return oneLine(err)
	}
	a.Log.Info("first admin bundle", "file", bundle, "ca", ini.CA.Fingerprint())
	if err := a.Serve(ctx); err != nil {
		return oneLine(err)
	}
	return nil
}

// oneLine keeps an error on one line for the terminal and the journal.
func oneLine(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errors.New(strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
}

// stdout is where init reports; a variable so tests can read it.
var stdout = os.Stdout
