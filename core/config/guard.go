package config

// Guard configures access lists, bans, rate limits and CSRF.
type Guard struct {
	Allow []string `toml:"allow"` // CIDRs or addresses never banned or rate limited
	Deny  []string `toml:"deny"`  // CIDRs or addresses always refused
}

func defaultGuard() Guard { return Guard{} }

func (g *Guard) validate() error { return nil }
