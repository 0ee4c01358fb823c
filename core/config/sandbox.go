package config

// Sandbox configures the app workers. Per-app limits come from each manifest and operator
// overrides in the store; these are the appliance-wide defaults and ceilings.
type Sandbox struct {
	Enabled bool `toml:"enabled"`
}

func defaultSandbox() Sandbox { return Sandbox{Enabled: true} }

func (s *Sandbox) validate() error { return nil }
