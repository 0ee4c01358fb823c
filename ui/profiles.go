package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"bulwark/ui/source"
)

// Profiles stores the appliances the operator added, one 0600 file per appliance in a 0700
// folder of the user's config directory: each holds a client key, which is as good as the
// operator's admin password.
type Profiles struct {
	dir string
}

// NewProfiles returns the store in dir, creating it 0700.
func NewProfiles(dir string) (*Profiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("appliance store: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("appliance store: %w", err)
	}
	return &Profiles{dir: dir}, nil
}

// DefaultProfilesDir is <user config dir>/bulwark-console/appliances.
func DefaultProfilesDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no user config folder: %w", err)
	}
	return filepath.Join(d, "bulwark-console", "appliances"), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (p *Profiles) path(label string) string {
	return filepath.Join(p.dir, strings.Trim(unsafeName.ReplaceAllString(label, "_"), ".")+".json")
}

// Save writes b under its label with mode 0600, replacing an older one of the same label.
func (p *Profiles) Save(b source.Bundle) error {
	if b.Label == "" {
		return errors.New("save appliance: no label")
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(p.dir, ".new-*")
	if err != nil {
		return fmt.Errorf("save appliance %s: %w", b.Label, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save appliance %s: %w", b.Label, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save appliance %s: %w", b.Label, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save appliance %s: %w", b.Label, err)
	}
	return os.Rename(tmp.Name(), p.path(b.Label))
}

// List returns the stored appliances sorted by label. Files others could read are skipped
// with an error naming them, so a leaked key is not used silently.
func (p *Profiles) List() ([]source.Bundle, error) {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("list appliances: %w", err)
	}
	var out []source.Bundle
	var errs []error
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(p.dir, e.Name())
		if fi, err := e.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			errs = append(errs, fmt.Errorf("%s is readable by others (mode %04o): run chmod 600 on it", path, fi.Mode().Perm()))
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var b source.Bundle
		if err := json.Unmarshal(data, &b); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, errors.Join(errs...)
}

// Remove deletes the stored appliance with that label.
func (p *Profiles) Remove(label string) error {
	if err := os.Remove(p.path(label)); err != nil {
		return fmt.Errorf("remove appliance %s: %w", label, err)
	}
	return nil
}
