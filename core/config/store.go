package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Store configures the SQLite store (package db) and its event writer.
type Store struct {
	File          string   `toml:"file"`           // database file; a relative path is inside the data folder
	QueueSize     int      `toml:"queue_size"`     // events buffered before drops
	BatchSize     int      `toml:"batch_size"`     // events per transaction at most
	FlushInterval Duration `toml:"flush_interval"` // longest wait before a partial batch is written
	Retention     Duration `toml:"retention"`      // events older than this are deleted
}

func defaultStore() Store {
	return Store{File: "bulwark.db", QueueSize: 65536, BatchSize: 1000, FlushInterval: Duration(200 * time.Millisecond), Retention: Duration(30 * 24 * time.Hour)}
}

// Path is the database file for the data folder data: File itself when absolute.
func (s Store) Path(data string) string {
	if filepath.IsAbs(s.File) {
		return s.File
	}
	return filepath.Join(data, s.File)
}

func (s *Store) validate() error {
	if strings.TrimSpace(s.File) == "" {
		return Errorf("store.file", "must name the database file (default \"bulwark.db\")")
	}
	if strings.HasSuffix(s.File, "/") {
		return Errorf("store.file", "%q names a folder, not a file", s.File)
	}
	// A queued event is a few hundred bytes: ten million is already gigabytes of memory.
	if s.QueueSize < 1 || s.QueueSize > 10_000_000 {
		return Errorf("store.queue_size", "must be 1..10000000, got %d", s.QueueSize)
	}
	if s.BatchSize < 1 || s.BatchSize > 100000 {
		return Errorf("store.batch_size", "must be 1..100000, got %d", s.BatchSize)
	}
	if err := positive("store.flush_interval", s.FlushInterval); err != nil {
		return err
	}
	// Retention deletes whole hours (the rollups are hourly), so less than one is nothing.
	if s.Retention.D() < time.Hour {
		return Errorf("store.retention", "must be at least 1h, got %s", s.Retention.D())
	}
	return nil
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
