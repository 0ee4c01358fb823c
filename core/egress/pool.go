package egress

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Pool keeps one Client per app and allowlist for a supervisor serving many apps, so each
// app reuses its connections and a changed allowlist (a new version) gets a fresh client.
type Pool struct {
	base Policy
	opts Options

	mu      sync.Mutex
	clients map[string]*Client
}

// NewPool returns a pool whose clients use base's caps with each call's allowlist.
func NewPool(base Policy, o Options) *Pool {
	return &Pool{base: base, opts: o, clients: map[string]*Client{}}
}

func (p *Pool) client(app string, allow []string) (*Client, error) {
	key := app + "\x00" + strings.Join(allow, "\x00")
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	pol := p.base
	pol.Allow = append([]string(nil), allow...)
	c, err := New(pol, p.opts)
	if err != nil {
		return nil, err
	}
	// Drop the app's clients for older allowlists.
	for k, old := range p.clients {
		if strings.HasPrefix(k, app+"\x00") {
			old.Close()
			delete(p.clients, k)
		}
	}
	p.clients[key] = c
	return c, nil
}

// Fetch performs one request for app under allow (its manifest's permissions.fetch). timeout
// and maxBody, when positive, tighten the pool's caps for this call. Subrequest counting per
// incoming request is the caller's (use Client.Session for that).
func (p *Pool) Fetch(ctx context.Context, app string, allow []string, r Request, timeout time.Duration, maxBody int64) (*Response, error) {
	c, err := p.client(app, allow)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s := c.Session()
	s.maxBody = maxBody
	return s.Do(ctx, r)
}

// Close releases every client's idle connections.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		c.Close()
		delete(p.clients, k)
	}
}
