package config

// WAF configures the OWASP Core Rule Set engine.
type WAF struct {
	Mode string `toml:"mode"` // block, detect, off
}

func defaultWAF() WAF { return WAF{Mode: "block"} }

func (w *WAF) validate() error {
	switch w.Mode {
	case "block", "detect", "off":
		return nil
	}
	return Errorf("waf.mode", "unknown mode %q (want block, detect or off)", w.Mode)
}
