package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenSetsUpTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mode string
	if err := d.Reader().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if v, err := d.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(migrations))
	}
	// Per-connection settings, read on the writer connection itself.
	err = d.Write(ctx, func(tx *sql.Tx) error {
		var fk, sync, busy int
		if err := tx.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
			return err
		}
		if err := tx.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
			return err
		}
		if err := tx.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
			return err
		}
		if fk != 1 || sync != 1 || busy != int(busyTimeout.Milliseconds()) {
			t.Errorf("writer: foreign_keys=%d synchronous=%d busy_timeout=%d; want 1, 1 (NORMAL), %d", fk, sync, busy, busyTimeout.Milliseconds())
		}
		_, err := tx.Exec(`INSERT INTO events (ts, kind, severity, action) VALUES (1, 'xss', 'high', 'blocked')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening keeps the data and applies nothing twice.
	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := count(t, d, "SELECT COUNT(*) FROM events"); n != 1 {
		t.Fatalf("after reopen %d events, want 1", n)
	}
	if v, _ := d.SchemaVersion(ctx); v != len(migrations) {
		t.Fatalf("after reopen schema version %d", v)
	}
}

func TestReaderCannotWrite(t *testing.T) {
	d := openTemp(t)
	_, err := d.Reader().Exec(`INSERT INTO events (ts, kind, severity, action) VALUES (1, 'xss', 'high', 'blocked')`)
	if err == nil {
		t.Fatal("a write through the read pool succeeded")
	}
	if n := count(t, d, "SELECT COUNT(*) FROM events"); n != 0 {
		t.Fatalf("%d events after a refused write", n)
	}
}

func TestWriteRollsBackOnError(t *testing.T) {
	d := openTemp(t)
	boom := errors.New("boom")
	err := d.Write(context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO events (ts, kind, severity, action) VALUES (1, 'xss', 'high', 'blocked')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want fn's error", err)
	}
	if n := count(t, d, "SELECT COUNT(*) FROM events"); n != 0 {
		t.Fatalf("%d events after a rolled-back write", n)
	}
}

func TestMigrationList(t *testing.T) {
	if err := checkMigrations(migrations); err != nil {
		t.Fatal(err)
	}
	bad := []Migration{{Version: 1, Name: "a"}, {Version: 3, Name: "b"}}
	if err := checkMigrations(bad); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("a gap in versions gave %v", err)
	}
	if _, err := open(filepath.Join(t.TempDir(), "x.db"), bad); err == nil {
		t.Fatal("open accepted a list with a gap")
	}
}

func TestMigrationsApplyInOrderAndAtomically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	ctx := context.Background()
	v1 := migrations[:1]
	d, err := open(path, v1)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	// A later binary adds a step: only it runs.
	v2 := append(append([]Migration{}, v1...), Migration{Version: 2, Name: "kv", SQL: `CREATE TABLE kv_test (k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv_test VALUES ('a', 'b');`})
	d, err = open(path, v2)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.SchemaVersion(ctx); v != 2 {
		t.Fatalf("version %d after upgrade, want 2", v)
	}
	if n := count(t, d, "SELECT COUNT(*) FROM kv_test"); n != 1 {
		t.Fatalf("kv_test has %d rows", n)
	}
	d.Close()

	// A broken step leaves nothing behind: not its first statement, not the version.
	v3 := append(append([]Migration{}, v2...), Migration{Version: 3, Name: "broken", SQL: `CREATE TABLE half (x); CREATE TABLE oops (`})
	_, err = open(path, v3)
	if err == nil || !strings.Contains(err.Error(), "migration 3 (broken)") || !strings.Contains(err.Error(), path) {
		t.Fatalf("broken migration gave %v", err)
	}
	d, err = open(path, v2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, _ := d.SchemaVersion(ctx); v != 2 {
		t.Fatalf("version %d after a failed step, want 2", v)
	}
	if n := count(t, d, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'"); n != 0 {
		t.Fatal("the failed migration's first statement was kept")
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("PRAGMA user_version = 99")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	before, _ := os.ReadFile(path)

	_, err = Open(path)
	var se *SchemaError
	if !errors.As(err, &se) || se.Have != 99 || se.Knows != len(migrations) {
		t.Fatalf("Open of a newer schema gave %v", err)
	}
	want := fmt.Sprintf("schema version 99 is newer than this bulwark (knows up to %d): upgrade bulwark", len(migrations))
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not say %q and name the file", err, want)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused open changed the file")
	}
}

func TestNotSQLiteOrCorruptIsRefused(t *testing.T) {
	dir := t.TempDir()

	notDB := filepath.Join(dir, "text.db")
	content := []byte("these are my notes, not a database\n")
	os.WriteFile(notDB, content, 0o600)
	_, err := Open(notDB)
	if err == nil || !strings.Contains(err.Error(), notDB) || !strings.Contains(err.Error(), "not an SQLite database") {
		t.Fatalf("opening a text file gave %v", err)
	}
	if got, _ := os.ReadFile(notDB); !bytes.Equal(got, content) {
		t.Fatal("the text file was changed")
	}

	// A real database whose first page (the schema) is overwritten after the header.
	broken := filepath.Join(dir, "broken.db")
	d, err := Open(broken)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	b, _ := os.ReadFile(broken)
	for i := 100; i < 4096 && i < len(b); i++ {
		b[i] = 0xA5
	}
	os.WriteFile(broken, b, 0o600)
	_, err = Open(broken)
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Fatalf("opening a corrupt database gave %v", err)
	}
	t.Logf("corrupt: %v", err)
	if got, _ := os.ReadFile(broken); !bytes.Equal(got, b) {
		t.Fatal("the corrupt file was changed")
	}

	if _, err := Open(filepath.Join(dir, "missing", "x.db")); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Fatalf("a missing folder gave %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("opening a folder gave %v", err)
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	os.Mkdir(dir, 0o700)
	path := filepath.Join(dir, "bulwark.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the literal path: %v", err)
	}
}
