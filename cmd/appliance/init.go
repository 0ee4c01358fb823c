package main

import (
	"fmt"

	"bulwark/core/appliance"
	"bulwark/core/config"
	"bulwark/core/pki"
)

// cmdInit creates the data folder (0700), the appliance CA, the public server certificate and
// the first admin bundle. Run again, it changes nothing and says what is there.
func cmdInit(args []string) error {
	cfg, ini, bundle, err := initialize("init", args)
	if err != nil {
		return err
	}
	verb := "kept existing"
	if ini.CreatedCA {
		verb = "created"
	}
	fmt.Fprintf(stdout, "data folder: %s\n%s CA: %s/%s (SHA-256 %s)\nfirst admin bundle: %s\n",
		cfg.Data, verb, cfg.Data, pki.CACertFile, ini.CA.Fingerprint(), bundle)
	return nil
}

// initialize loads the configuration for cmd, creates what the data folder lacks (CA, server
// certificate) and the first admin bundle, and returns the bundle's path. Errors are one line.
func initialize(cmd string, args []string) (config.Config, appliance.Initialized, string, error) {
	cfg, err := loadConfig(cmd, args)
	if err != nil {
		return cfg, appliance.Initialized{}, "", oneLine(err)
	}
	ini, err := appliance.Init(cfg)
	if err != nil {
		return cfg, ini, "", oneLine(err)
	}
	bundle, err := writeFirstAdminBundle(cfg, ini.CA)
	if err != nil {
		return cfg, ini, "", oneLine(err)
	}
	return cfg, ini, bundle, nil
}
