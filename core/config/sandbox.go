package config

// Sandbox configures the app workers. Per-app limits come from each manifest and operator
// overrides in the store; these are the appliance-wide settings of the supervisor.
type Sandbox struct {
	Enabled bool `toml:"enabled"`
	// WorkerBinary is the executable re-run as "sandbox-worker"; empty means this binary.
	WorkerBinary string `toml:"worker_binary"`
	// DemoApp deploys the built-in demo app at / when no app is deployed yet.
	DemoApp bool `toml:"demo_app"`
	// AddressSlackMB is added to each worker's baseline address space and its app's memory
	// limit to form the RLIMIT_AS wall (thread stacks, heap arenas).
	AddressSlackMB int `toml:"address_slack_mb"`
	// RestartBackoff is the first wait before restarting a dead worker, doubling up to
	// RestartBackoffMax.
	RestartBackoff    Duration `toml:"restart_backoff"`
	RestartBackoffMax Duration `toml:"restart_backoff_max"`
	// HealthTimeout bounds a new version's start and health check at deploy.
	HealthTimeout Duration `toml:"health_timeout"`
	// DrainTimeout bounds how long a replaced version may finish its requests.
	DrainTimeout Duration `toml:"drain_timeout"`
}

func defaultSandbox() Sandbox {
	return Sandbox{
		Enabled:           true,
		DemoApp:           true,
		AddressSlackMB:    256,
		RestartBackoff:    Duration(50e6),
		RestartBackoffMax: Duration(5e9),
		HealthTimeout:     Duration(20e9),
		DrainTimeout:      Duration(15e9),
	}
}

func (s *Sandbox) validate() error {
	if s.AddressSlackMB < 32 || s.AddressSlackMB > 4096 {
		return Errorf("sandbox.address_slack_mb", "must be 32..4096, got %d", s.AddressSlackMB)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"sandbox.restart_backoff", s.RestartBackoff}, {"sandbox.restart_backoff_max", s.RestartBackoffMax},
		{"sandbox.health_timeout", s.HealthTimeout}, {"sandbox.drain_timeout", s.DrainTimeout}} {
		if err := positive(d.name, d.v); err != nil {
			return err
		}
	}
	if s.RestartBackoffMax < s.RestartBackoff {
		return Errorf("sandbox.restart_backoff_max", "must not be below sandbox.restart_backoff (%s)", s.RestartBackoff.D())
	}
	return nil
}
