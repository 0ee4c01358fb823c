package config

import (
	"net"
	"time"
)

// Admin configures the mutual-TLS admin listener, client certificates and enrollment.
type Admin struct {
	Listen string `toml:"listen"`
	// AllowRemote must be set to bind Listen to a non-loopback address.
	AllowRemote bool `toml:"allow_remote"`
	// ServerNames are extra DNS names or IPs in the admin server certificate (for remote use).
	ServerNames []string `toml:"server_names"`
	// ClientValidity is the lifetime of issued client certificates.
	ClientValidity Duration `toml:"client_validity"`
	// EnrollTTL is how long an enrollment token stays usable.
	EnrollTTL Duration `toml:"enroll_ttl"`
	// EnrollPerMinute caps enrollment attempts per minute (all addresses together).
	EnrollPerMinute int `toml:"enroll_per_minute"`
	// MaxBodyBytes caps JSON request bodies (uploads of app archives have their own cap).
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// MaxUploadBytes caps app archives deployed through the API.
	MaxUploadBytes int64 `toml:"max_upload_bytes"`
}

func defaultAdmin() Admin {
	return Admin{
		Listen:          "127.0.0.1:9443",
		ClientValidity:  Duration(90 * 24 * time.Hour),
		EnrollTTL:       Duration(15 * time.Minute),
		EnrollPerMinute: 10,
		MaxBodyBytes:    1 << 20,
		MaxUploadBytes:  64 << 20,
	}
}

func (a *Admin) validate() error {
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return Errorf("admin.listen", "%q is not host:port", a.Listen)
	}
	ip := net.ParseIP(host)
	loop := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loop && !a.AllowRemote {
		return Errorf("admin.listen", "%q is not a loopback address; set admin.allow_remote = true to expose the admin API", a.Listen)
	}
	for i, n := range a.ServerNames {
		if n == "" {
			return Errorf("admin.server_names", "entry %d is empty", i)
		}
	}
	if err := positive("admin.client_validity", a.ClientValidity); err != nil {
		return err
	}
	if a.ClientValidity.D() < time.Hour {
		return Errorf("admin.client_validity", "must be at least 1h, got %s", a.ClientValidity.D())
	}
	if err := positive("admin.enroll_ttl", a.EnrollTTL); err != nil {
		return err
	}
	if a.EnrollPerMinute < 1 {
		return Errorf("admin.enroll_per_minute", "must be at least 1, got %d", a.EnrollPerMinute)
	}
	if a.MaxBodyBytes < 1024 {
		return Errorf("admin.max_body_bytes", "must be at least 1024, got %d", a.MaxBodyBytes)
	}
	if a.MaxUploadBytes < a.MaxBodyBytes {
		return Errorf("admin.max_upload_bytes", "must be at least admin.max_body_bytes (%d), got %d", a.MaxBodyBytes, a.MaxUploadBytes)
	}
	return nil
}
