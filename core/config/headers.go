package config

// Headers selects the security-header profile for responses.
type Headers struct {
	Profile string `toml:"profile"` // "default" (Helmet parity and beyond) or "strict"
	// AllowAppLoosen lets an app's manifest choose a weaker profile than the global one.
	AllowAppLoosen bool           `toml:"allow_app_loosen"`
	Routes         []HeadersRoute `toml:"routes"`
}

// HeadersRoute picks a profile for requests whose path starts with Prefix.
type HeadersRoute struct {
	Prefix  string `toml:"prefix"`
	Profile string `toml:"profile"`
}

func defaultHeaders() Headers { return Headers{Profile: "default"} }

func validProfile(p string) bool { return p == "default" || p == "strict" }

func (h *Headers) validate() error {
	if !validProfile(h.Profile) {
		return Errorf("headers.profile", "unknown profile %q (want \"default\" or \"strict\")", h.Profile)
	}
	seen := map[string]bool{}
	for i, r := range h.Routes {
		if r.Prefix == "" || r.Prefix[0] != '/' {
			return Errorf("headers.routes", "entry %d: prefix %q must start with /", i, r.Prefix)
		}
		if seen[r.Prefix] {
			return Errorf("headers.routes", "entry %d: prefix %q is listed twice", i, r.Prefix)
		}
		seen[r.Prefix] = true
		if !validProfile(r.Profile) {
			return Errorf("headers.routes", "entry %d: unknown profile %q", i, r.Profile)
		}
	}
	return nil
}
