package config

import "net"

// Admin configures the mutual-TLS admin listener.
type Admin struct {
	Listen string `toml:"listen"`
	// AllowRemote must be set to bind Listen to a non-loopback address.
	AllowRemote bool `toml:"allow_remote"`
}

func defaultAdmin() Admin { return Admin{Listen: "127.0.0.1:9443"} }

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
	return nil
}
