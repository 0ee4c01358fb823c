package apps

import (
	"context"

	"bulwark/core/kv"
)

// KVStore adapts core/kv's SQLite store to the KV capability.
func KVStore(s *kv.Store) KV { return kvStore{s} }

type kvStore struct{ s *kv.Store }

func (k kvStore) Get(ctx context.Context, app, key string) ([]byte, bool, error) {
	return k.s.Namespace(app, 0).Get(ctx, key)
}

func (k kvStore) Put(ctx context.Context, app, key string, value []byte, quotaBytes int) error {
	return k.s.Namespace(app, int64(quotaBytes)).Put(ctx, key, value)
}

func (k kvStore) Delete(ctx context.Context, app, key string) error {
	return k.s.Namespace(app, 0).Delete(ctx, key)
}

func (k kvStore) List(ctx context.Context, app, prefix, cursor string, limit int) (KVPage, error) {
	p, err := k.s.Namespace(app, 0).List(ctx, prefix, cursor, limit)
	return KVPage{Keys: p.Keys, Cursor: p.Cursor, Complete: p.Complete}, err
}
