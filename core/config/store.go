package config

import "time"

// Store configures the SQLite event store.
type Store struct {
	QueueSize     int      `toml:"queue_size"`     // events buffered before drops
	BatchSize     int      `toml:"batch_size"`     // events per transaction at most
	FlushInterval Duration `toml:"flush_interval"` // longest wait before a partial batch is written
	Retention     Duration `toml:"retention"`      // events older than this are deleted
}

func defaultStore() Store {
	return Store{QueueSize: 65536, BatchSize: 1000, FlushInterval: Duration(200 * time.Millisecond), Retention: Duration(30 * 24 * time.Hour)}
}

func (s *Store) validate() error {
	if s.QueueSize < 1 {
		return Errorf("store.queue_size", "must be at least 1, got %d", s.QueueSize)
	}
	if s.BatchSize < 1 || s.BatchSize > 100000 {
		return Errorf("store.batch_size", "must be 1..100000, got %d", s.BatchSize)
	}
	if err := positive("store.flush_interval", s.FlushInterval); err != nil {
		return err
	}
	return positive("store.retention", s.Retention)
}

// Log configures the JSON log on stderr.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Access bool   `toml:"access"` // one line per request
}

func defaultLog() Log { return Log{Level: "info", Access: true} }

func (l *Log) validate() error {
	switch l.Level {
	case "debug", "info", "warn", "error":
		return nil
	}
	return Errorf("log.level", "unknown level %q (want debug, info, warn or error)", l.Level)
}
