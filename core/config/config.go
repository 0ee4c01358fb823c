// Package config is the appliance's configuration root: one TOML file, decoded strictly
// (an unknown key is an error naming the key and its line), laid over embedded defaults so
// that no file is needed, then validated with messages that name the offending field.
//
// Each concern owns one section type in its own file here; the daemon passes each section
// to the package that uses it. Nothing else in the appliance reads files for configuration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole configuration.
type Config struct {
	Data    string  `toml:"data"` // data folder: CA, certificates, database, apps
	Server  Server  `toml:"server"`
	TLS     TLS     `toml:"tls"`
	Headers Headers `toml:"headers"`
	Store   Store   `toml:"store"`
	Log     Log     `toml:"log"`
	Admin   Admin   `toml:"admin"`
	Sandbox Sandbox `toml:"sandbox"`
	WAF     WAF     `toml:"waf"`
	Guard   Guard   `toml:"guard"`
}

// Default returns the embedded defaults: the configuration `make run` uses.
func Default() Config {
	return Config{
		Data:    "data",
		Server:  defaultServer(),
		TLS:     defaultTLS(),
		Headers: defaultHeaders(),
		Store:   defaultStore(),
		Log:     defaultLog(),
		Admin:   defaultAdmin(),
		Sandbox: defaultSandbox(),
		WAF:     defaultWAF(),
		Guard:   defaultGuard(),
	}
}

// Load reads path (if not empty) over the defaults and validates the result.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, c.Validate()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := Decode(b, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Decode decodes TOML into c strictly. Errors name the key and the line.
func Decode(b []byte, c *Config) error {
	d := toml.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	err := d.Decode(c)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var msgs []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", row, strings.Join(e.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			return fmt.Errorf("line %d: %s: %s", row, key, de.Error())
		}
		return fmt.Errorf("line %d: %s", row, de.Error())
	}
	return err
}

// FieldError is a validation failure of one field, named by its dotted TOML path.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errorf builds a FieldError.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks every section and returns the first error, naming the field.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Data) == "" {
		return Errorf("data", "must name a folder")
	}
	for _, v := range []func() error{
		c.Server.validate, c.TLS.validate, c.Headers.validate, c.Store.validate, c.Log.validate,
		c.Admin.validate, c.Sandbox.validate, c.WAF.validate, c.Guard.validate,
	} {
		if err := v(); err != nil {
			return err
		}
	}
	return nil
}

// Duration is a time.Duration written as a Go duration string ("30s", "2m").
type Duration time.Duration

// UnmarshalText parses "30s" style durations.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"30s\", \"5m\")", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func positive(field string, d Duration) error {
	if d <= 0 {
		return Errorf(field, "must be a positive duration, got %s", d.D())
	}
	return nil
}
