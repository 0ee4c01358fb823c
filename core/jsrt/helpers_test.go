package jsrt

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"bulwark/core/bundle"
)

// testHost is an in-memory Host: a map for KV, canned fetch answers and recorded calls.
type testHost struct {
	mu       sync.Mutex
	kv       map[string][]byte
	logs     []string
	signals  []SecuritySignal
	fetches  []FetchRequest
	secrets  map[string]string
	fetchFn  func(FetchRequest) (FetchResponse, error)
	sanitize func(string, string) (string, error)
}

func newHost() *testHost {
	return &testHost{kv: map[string][]byte{}, secrets: map[string]string{"API_KEY": "s3cret"}}
}

func (h *testHost) Fetch(ctx context.Context, r FetchRequest) (FetchResponse, error) {
	h.mu.Lock()
	h.fetches = append(h.fetches, r)
	fn := h.fetchFn
	h.mu.Unlock()
	if fn != nil {
		return fn(r)
	}
	return FetchResponse{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("pong " + r.URL), URL: r.URL}, nil
}
func (h *testHost) KVGet(ctx context.Context, k string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.kv[k]
	return v, ok, nil
}
func (h *testHost) KVPut(ctx context.Context, k string, v []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(v) > 1000 {
		return errors.New("value too large")
	}
	h.kv[k] = v
	return nil
}
func (h *testHost) KVDelete(ctx context.Context, k string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.kv, k)
	return nil
}
func (h *testHost) KVList(ctx context.Context, prefix, cursor string, limit int) (KVPage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for k := range h.kv {
		if strings.HasPrefix(k, prefix) && k > cursor {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		return KVPage{Keys: keys[:limit], Cursor: keys[limit-1]}, nil
	}
	return KVPage{Keys: keys, Complete: true}, nil
}
func (h *testHost) Secret(ctx context.Context, name string) (string, error) {
	s, ok := h.secrets[name]
	if !ok {
		return "", errors.New("unknown secret")
	}
	return s, nil
}
func (h *testHost) Sanitize(ctx context.Context, html, policy string) (string, error) {
	if h.sanitize != nil {
		return h.sanitize(html, policy)
	}
	return strings.ReplaceAll(html, "<script>", ""), nil
}
func (h *testHost) Security(ctx context.Context, s SecuritySignal) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signals = append(h.signals, s)
	return nil
}
func (h *testHost) Log(ctx context.Context, level, line string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, level+": "+line)
}

// build bundles src (the entry module) with core/bundle, as a deploy would.
func build(t testing.TB, src string, extra ...string) *bundle.Result {
	t.Helper()
	d := t.TempDir()
	files := map[string]string{"app.json": `{"name":"t","entry":"index.js"}`, "index.js": src}
	for i := 0; i+1 < len(extra); i += 2 {
		files[extra[i]] = extra[i+1]
	}
	for name, body := range files {
		p := d + "/" + name
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			_ = mkdir(p[:i])
		}
		if err := writeFile(p, body); err != nil {
			t.Fatal(err)
		}
	}
	r, err := bundle.BuildDir(d, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newVM(t testing.TB, src string, h Host, opts Options) *VM {
	t.Helper()
	r := build(t, src)
	v, err := New(r.Program, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func get(t testing.TB, v *VM, url string) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := v.Handle(ctx, Request{Method: "GET", URL: url, Header: http.Header{"X-Test": {"1"}}})
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res
}

// run evaluates an async expression inside a fetch handler and returns the response text.
func run(t testing.TB, h Host, opts Options, body string) (string, error) {
	t.Helper()
	v := newVM(t, "export default { async fetch(request, env, ctx) {\n"+body+"\n} }", h, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := v.Handle(ctx, Request{Method: "POST", URL: "https://app.test/path?q=1", Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hello body")})
	return string(res.Body), err
}
