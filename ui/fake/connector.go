package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"bulwark/ui/source"
)

// Connector hands out one fake Appliance. Bundles are the JSON form of source.Bundle.
type Connector struct {
	App *Appliance

	mu      sync.Mutex
	refused map[string]bool // client names the appliance refuses
	down    map[string]bool // addresses that do not answer
	opened  []source.Bundle
}

// NewConnector returns a connector to app.
func NewConnector(app *Appliance) *Connector {
	return &Connector{App: app, refused: map[string]bool{}, down: map[string]bool{}}
}

// Refuse makes Open fail for bundles of that client name, as a revoked certificate would.
func (c *Connector) Refuse(name string) { c.mu.Lock(); c.refused[name] = true; c.mu.Unlock() }

// Down makes Open fail for that address, as a stopped appliance would.
func (c *Connector) Down(addr string) { c.mu.Lock(); c.down[addr] = true; c.mu.Unlock() }

// Opened returns the bundles Open accepted.
func (c *Connector) Opened() []source.Bundle {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]source.Bundle(nil), c.opened...)
}

// ParseBundle implements source.Connector.
func (c *Connector) ParseBundle(data []byte) (source.Bundle, error) {
	var b source.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("not a bundle: %w", err)
	}
	if b.CertPEM == "" || b.KeyPEM == "" || b.CAPEM == "" || b.Addr == "" {
		return b, errors.New("not a bundle: addr, ca, cert or key missing")
	}
	return b, nil
}

// Enroll implements source.Connector: tokens starting with "bad" are refused, tokens
// without the "bwk1." prefix are not tokens.
func (c *Connector) Enroll(ctx context.Context, token string) (source.Bundle, error) {
	if err := c.App.wait(ctx, "Enroll", true, token); err != nil {
		return source.Bundle{}, err
	}
	switch {
	case !strings.HasPrefix(token, "bwk1."):
		return source.Bundle{}, errors.New(`not an enrollment token (it starts with "bwk1.")`)
	case strings.HasPrefix(token, "bwk1.bad"):
		return source.Bundle{}, errors.New("request refused (403 Forbidden): the token is unknown, used or expired")
	}
	c.App.mu.Lock()
	now := c.App.now()
	c.App.mu.Unlock()
	return NewBundle("console", "127.0.0.1:9443", now.AddDate(1, 0, 0))
}

// Open implements source.Connector.
func (c *Connector) Open(ctx context.Context, b source.Bundle) (source.Appliance, error) {
	c.mu.Lock()
	down, refused := c.down[b.Addr], c.refused[b.Name]
	c.mu.Unlock()
	if down {
		return nil, fmt.Errorf("dial %s: connection refused: %w", b.Addr, source.ErrUnreachable)
	}
	if refused {
		return nil, fmt.Errorf("tls: bad certificate: %w", source.ErrRefused)
	}
	if _, err := c.App.Status(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.opened = append(c.opened, b)
	c.mu.Unlock()
	return c.App, nil
}
