package kv

import "context"

// The methods below address a namespace by app name in each call, the shape core/apps'
// Capabilities.KV asks for, so a *Store can be handed to it directly.

// Get returns app's value for key.
func (s *Store) Get(ctx context.Context, app, key string) ([]byte, bool, error) {
	return s.Namespace(app, 0).Get(ctx, key)
}

// Put stores key in app's namespace under quotaBytes.
func (s *Store) Put(ctx context.Context, app, key string, value []byte, quotaBytes int) error {
	return s.Namespace(app, int64(quotaBytes)).Put(ctx, key, value)
}

// Delete removes key from app's namespace.
func (s *Store) Delete(ctx context.Context, app, key string) error {
	return s.Namespace(app, 0).Delete(ctx, key)
}

// List returns up to limit of app's keys starting with prefix, in byte order.
func (s *Store) List(ctx context.Context, app, prefix string, limit int) ([]string, error) {
	p, err := s.Namespace(app, 0).List(ctx, prefix, "", limit)
	return p.Keys, err
}
