package appliance

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"

	"bulwark/core/config"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig is the default configuration on loopback ports of the kernel's choice with a
// fresh data folder.
func testConfig(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Server.Listen, cfg.Server.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}
