package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dop251/goja"

	"bulwark/core/manifest"
)

// GlobalName is the global variable the bundle assigns its module namespace to; the app's
// handlers are GlobalName + ".default" (fetch, scheduled).
const GlobalName = "__bulwark_app"

// Options caps what a deploy may contain. Zero fields take the Default* constants.
type Options struct {
	MaxFiles        int   // files in the app folder or archive
	MaxTotalBytes   int64 // unpacked bytes
	MaxFileBytes    int64 // bytes in one file
	MaxArchiveBytes int64 // bytes of an uploaded archive
	MaxBundleBytes  int   // bytes of the bundled JavaScript
	Minify          bool  // minify the bundle (names are kept, for readable stack traces)
}

func (o Options) withDefaults() Options {
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxTotalBytes == 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.MaxFileBytes == 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxArchiveBytes == 0 {
		o.MaxArchiveBytes = DefaultMaxArchive
	}
	if o.MaxBundleBytes == 0 {
		o.MaxBundleBytes = DefaultMaxBundleBytes
	}
	return o
}

// Result is a bundled, syntax-checked app.
type Result struct {
	Manifest *manifest.Manifest
	JS       string        // the IIFE; run it, then read GlobalName + ".default"
	Hash     string        // hex SHA-256 of JS
	Size     int           // len(JS)
	Warnings []string      // esbuild warnings and notes, as "file:line:col: text"
	Program  *goja.Program // JS compiled once by the syntax check; reusable by runtimes
}

// Message is one located problem found while bundling.
type Message struct {
	File string // relative to the app folder; "" when not tied to a file
	Line int    // 1-based; 0 when unknown
	Col  int    // 1-based; 0 when unknown
	Text string
}

func (m Message) String() string {
	switch {
	case m.File == "":
		return m.Text
	case m.Line == 0:
		return m.File + ": " + m.Text
	}
	return fmt.Sprintf("%s:%d:%d: %s", m.File, m.Line, m.Col, m.Text)
}

// Error is a failed build: every problem, each located where possible.
type Error struct {
	Messages []Message
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Messages))
	for i, m := range e.Messages {
		parts[i] = m.String()
	}
	return "bundle: " + strings.Join(parts, "\n")
}

// Build bundles an app given as a folder, a .tar.gz/.tgz or a .zip file.
func Build(src string, opts Options) (*Result, error) {
	info, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if info.IsDir() {
		return BuildDir(src, opts)
	}
	opts = opts.withDefaults()
	if info.Size() > opts.MaxArchiveBytes {
		return nil, &ExtractError{"", fmt.Sprintf("archive is larger than %d bytes", opts.MaxArchiveBytes)}
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return BuildArchive(data, opts)
}

// BuildArchive extracts an uploaded .tar.gz or .zip into a temporary folder and bundles it.
// The archive may hold the app at its root or inside one top-level folder.
func BuildArchive(data []byte, opts Options) (*Result, error) {
	tmp, err := os.MkdirTemp("", "bulwark-deploy-")
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := Extract(data, tmp, opts); err != nil {
		return nil, err
	}
	root := tmp
	if _, err := os.Stat(filepath.Join(tmp, manifest.FileName)); err != nil {
		entries, _ := os.ReadDir(tmp)
		if len(entries) == 1 && entries[0].IsDir() {
			root = filepath.Join(tmp, entries[0].Name())
		}
	}
	return BuildDir(root, opts)
}

// BuildDir bundles the app folder dir.
func BuildDir(dir string, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := checkTree(abs, opts); err != nil {
		return nil, err
	}
	m, err := manifest.Load(abs)
	if err != nil {
		return nil, err
	}
	entry := filepath.Join(abs, filepath.FromSlash(m.Entry))
	if st, err := os.Stat(entry); err != nil || !st.Mode().IsRegular() {
		return nil, &Error{[]Message{{File: "app.json", Text: fmt.Sprintf("entry %q does not exist in the app folder", m.Entry)}}}
	}
	js, warnings, err := esbuild(abs, entry, opts)
	if err != nil {
		return nil, err
	}
	if len(js) > opts.MaxBundleBytes {
		return nil, &Error{[]Message{{Text: fmt.Sprintf("bundle is %d bytes; the limit is %d (trim dependencies)", len(js), opts.MaxBundleBytes)}}}
	}
	if strings.HasSuffix(m.Entry, "ts") || strings.HasSuffix(m.Entry, "tsx") {
		warnings = append(warnings, "TypeScript was transpiled without type checking; run tsc to check types")
	}
	prog, err := Compile(js)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(js))
	return &Result{Manifest: m, JS: js, Hash: hex.EncodeToString(sum[:]), Size: len(js), Warnings: warnings, Program: prog}, nil
}

// Compile checks and compiles a bundle with goja. The error names the line and column.
func Compile(js string) (*goja.Program, error) {
	// Strict, as ES modules are: writes to frozen objects throw, no accidental globals, no
	// arguments.caller. Runtimes must compile bundles with this function so the deploy-time
	// check and the run agree.
	prog, err := goja.Compile("app.js", js, true)
	if err != nil {
		var ce *goja.CompilerSyntaxError
		if errors.As(err, &ce) {
			return nil, &Error{[]Message{{File: "bundle", Text: "goja cannot compile the bundle: " + ce.Error()}}}
		}
		return nil, &Error{[]Message{{File: "bundle", Text: "goja cannot compile the bundle: " + err.Error()}}}
	}
	return prog, nil
}
