package kv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"bulwark/db"
)

func open(t testing.TB) (*Store, *db.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return New(d, Options{MaxKeyBytes: 64, MaxValueBytes: 1000}), d, path
}

func TestGetPutDeleteAcrossReopen(t *testing.T) {
	ctx := context.Background()
	s, d, path := open(t)
	a := s.Namespace("shop", 10_000)
	if _, ok, err := a.Get(ctx, "missing"); ok || err != nil {
		t.Fatalf("missing: %v %v", ok, err)
	}
	if err := a.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "k", []byte("value2")); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	v, ok, err := a.Get(ctx, "k")
	if err != nil || !ok || string(v) != "value2" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if v, ok, _ := a.Get(ctx, "empty"); !ok || len(v) != 0 {
		t.Fatalf("empty value: %q %v", v, ok)
	}
	if b, k, _ := a.Usage(ctx); b != int64(len("k")+len("value2")+len("empty")) || k != 2 {
		t.Fatalf("usage = %d bytes %d keys", b, k)
	}
	// Namespaces are separate.
	if _, ok, _ := s.Namespace("other", 10_000).Get(ctx, "k"); ok {
		t.Fatal("another app sees shop's key")
	}
	// Survives closing and reopening the file.
	d.Close()
	d2, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	a2 := New(d2, Options{}).Namespace("shop", 10_000)
	if v, ok, _ := a2.Get(ctx, "k"); !ok || string(v) != "value2" {
		t.Fatalf("after reopen: %q %v", v, ok)
	}
	if err := a2.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := a2.Delete(ctx, "k"); err != nil {
		t.Fatal("deleting a missing key:", err)
	}
	if b, k, _ := a2.Usage(ctx); b != 5 || k != 1 {
		t.Fatalf("usage after delete = %d %d", b, k)
	}
}

func TestCapsAndQuota(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	a := s.Namespace("a", 100)
	var le *LimitError
	if err := a.Put(ctx, strings.Repeat("k", 65), nil); !errors.As(err, &le) || le.What != "key" {
		t.Fatalf("long key: %v", err)
	}
	if err := a.Put(ctx, "k", make([]byte, 1001)); !errors.As(err, &le) || le.What != "value" {
		t.Fatalf("big value: %v", err)
	}
	for _, bad := range []string{"", "a\x00b", "\xff\xfe"} {
		if err := a.Put(ctx, bad, nil); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	if err := a.Put(ctx, "x", make([]byte, 89)); err != nil { // 90 bytes used
		t.Fatal(err)
	}
	if err := a.Put(ctx, "y", make([]byte, 10)); !errors.As(err, &le) || le.What != "quota" || le.Limit != 100 {
		t.Fatalf("over quota: %v", err)
	}
	if err := a.Put(ctx, "y", make([]byte, 9)); err != nil { // exactly 100
		t.Fatal(err)
	}
	// Shrinking a value is always allowed, even at the quota.
	if err := a.Put(ctx, "x", make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := a.Usage(ctx); b != 21 {
		t.Fatalf("usage = %d, want 21", b)
	}
}

// TestQuotaUnderConcurrency has many writers race for the last bytes of a quota: the check
// and the write share a transaction, so the total never exceeds it.
func TestQuotaUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	a := s.Namespace("flood", 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := a.Put(ctx, fmt.Sprintf("key-%03d", i), make([]byte, 93)); err == nil { // 100 bytes each
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	b, k, _ := a.Usage(ctx)
	if ok != 10 || b != 1000 || k != 10 {
		t.Fatalf("accepted %d puts, usage %d bytes %d keys; want 10, 1000, 10", ok, b, k)
	}
}

func TestListPrefixCursor(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	a := s.Namespace("l", 1<<20)
	for _, k := range []string{"user:1", "user:2", "user:10", "user;x", "user", "admin:1", "usex", "user:\u00e9"} {
		if err := a.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	s.Namespace("other", 1<<20).Put(ctx, "user:99", []byte("v"))
	var got []string
	cursor := ""
	pages := 0
	for {
		p, err := a.List(ctx, "user:", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, p.Keys...)
		if p.Complete {
			break
		}
		cursor = p.Cursor
		if pages > 10 {
			t.Fatal("list does not end")
		}
	}
	if strings.Join(got, ",") != "user:1,user:10,user:2,user:\u00e9" || pages != 2 {
		t.Fatalf("got %v in %d pages", got, pages)
	}
	all, _ := a.List(ctx, "", "", 0)
	if len(all.Keys) != 8 || !all.Complete || all.Keys[0] != "admin:1" {
		t.Fatalf("all = %+v", all)
	}
	if p, _ := a.List(ctx, "\xff", "", 10); len(p.Keys) != 0 {
		t.Fatalf("0xff prefix = %+v", p)
	}
	if err := s.DropApp(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.List(ctx, "", "", 0); len(p.Keys) != 0 {
		t.Fatal("DropApp left keys")
	}
	if b, _, _ := a.Usage(ctx); b != 0 {
		t.Fatal("DropApp left usage")
	}
}

func BenchmarkPutGet(b *testing.B) {
	ctx := context.Background()
	s, _, _ := open(b)
	a := s.Namespace("bench", 1<<30)
	val := make([]byte, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := fmt.Sprintf("k%d", i%1000)
		if err := a.Put(ctx, k, val); err != nil {
			b.Fatal(err)
		}
		if _, ok, err := a.Get(ctx, k); !ok || err != nil {
			b.Fatal(err)
		}
	}
}

// appsKV is core/apps' Capabilities.KV interface, restated so this test breaks if *Store
// stops satisfying it.
type appsKV interface {
	Get(ctx context.Context, app, key string) (value []byte, ok bool, err error)
	Put(ctx context.Context, app, key string, value []byte, quotaBytes int) error
	Delete(ctx context.Context, app, key string) error
	List(ctx context.Context, app, prefix string, limit int) ([]string, error)
}

func TestAppsShape(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	var k appsKV = s
	if err := k.Put(ctx, "a", "x:1", []byte("v"), 10); err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if err := k.Put(ctx, "a", "x:2", []byte("toolong"), 10); !errors.As(err, &le) {
		t.Fatalf("quota: %v", err)
	}
	keys, err := k.List(ctx, "a", "x:", 10)
	if err != nil || len(keys) != 1 || keys[0] != "x:1" {
		t.Fatalf("list: %v %v", keys, err)
	}
	if v, ok, _ := k.Get(ctx, "a", "x:1"); !ok || string(v) != "v" {
		t.Fatal("get")
	}
	if err := k.Delete(ctx, "a", "x:1"); err != nil {
		t.Fatal(err)
	}
}
