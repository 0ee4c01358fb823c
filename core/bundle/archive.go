package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Caps on what an app may contain. Zero fields in Options take these values.
const (
	DefaultMaxFiles       = 20_000
	DefaultMaxTotalBytes  = 200 << 20 // unpacked size of the app, node_modules included
	DefaultMaxFileBytes   = 20 << 20
	DefaultMaxBundleBytes = 10 << 20 // the bundled JavaScript
	DefaultMaxArchive     = 100 << 20
)

// ExtractError is a refused archive entry.
type ExtractError struct {
	Entry string
	Msg   string
}

func (e *ExtractError) Error() string {
	if e.Entry == "" {
		return "archive: " + e.Msg
	}
	return fmt.Sprintf("archive entry %q: %s", e.Entry, e.Msg)
}

type extractor struct {
	dest  string
	opts  Options
	files int
	total int64
}

// cleanEntry maps an archive name to a safe relative path, refusing anything that would land
// outside the destination.
func cleanEntry(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", errors.New("name contains a NUL byte")
	}
	n := strings.ReplaceAll(name, "\\", "/")
	if strings.HasPrefix(n, "/") || (len(n) >= 2 && n[1] == ':') {
		return "", errors.New("absolute paths are not allowed")
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == ".." {
			return "", errors.New("paths with .. are not allowed")
		}
	}
	c := path.Clean(n)
	if c == "." || c == "" {
		return "", nil
	}
	return c, nil
}

func (x *extractor) file(name string, mode fs.FileMode, r io.Reader) error {
	rel, err := cleanEntry(name)
	if err != nil {
		return &ExtractError{name, err.Error()}
	}
	if rel == "" {
		return nil
	}
	switch {
	case mode.IsDir():
		return os.MkdirAll(filepath.Join(x.dest, rel), 0o755)
	case mode&fs.ModeSymlink != 0:
		return &ExtractError{name, "symbolic links are not allowed"}
	case !mode.IsRegular():
		return &ExtractError{name, "only regular files and folders are allowed (no devices, pipes or links)"}
	}
	x.files++
	if x.files > x.opts.MaxFiles {
		return &ExtractError{"", fmt.Sprintf("more than %d files", x.opts.MaxFiles)}
	}
	dst := filepath.Join(x.dest, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &ExtractError{name, "appears twice in the archive"}
		}
		return fmt.Errorf("extract %s: %w", rel, err)
	}
	defer f.Close()
	// Count what is actually decompressed, never the sizes the archive claims (zip bombs lie).
	limit := min(x.opts.MaxFileBytes, x.opts.MaxTotalBytes-x.total)
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	x.total += n
	if err != nil {
		return &ExtractError{name, "unreadable: " + err.Error()}
	}
	if n > limit {
		if x.total > x.opts.MaxTotalBytes {
			return &ExtractError{"", fmt.Sprintf("unpacked size exceeds %d bytes", x.opts.MaxTotalBytes)}
		}
		return &ExtractError{name, fmt.Sprintf("larger than %d bytes", x.opts.MaxFileBytes)}
	}
	return nil
}

// Extract unpacks a .tar.gz, .tgz or .zip archive (detected from its first bytes) into dest,
// which must exist and be empty.
func Extract(data []byte, dest string, opts Options) error {
	opts = opts.withDefaults()
	if int64(len(data)) > opts.MaxArchiveBytes {
		return &ExtractError{"", fmt.Sprintf("archive is larger than %d bytes", opts.MaxArchiveBytes)}
	}
	x := &extractor{dest: dest, opts: opts}
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		return x.tarGz(data)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return x.zip(data)
	}
	return &ExtractError{"", "not a .tar.gz or .zip archive"}
}

func (x *extractor) tarGz(data []byte) error {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return &ExtractError{"", "bad gzip stream: " + err.Error()}
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &ExtractError{"", "bad tar stream: " + err.Error()}
		}
		var mode fs.FileMode
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeDir:
			mode = fs.ModeDir
		case tar.TypeSymlink:
			mode = fs.ModeSymlink
		case tar.TypeLink:
			return &ExtractError{h.Name, "hard links are not allowed"}
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			mode = fs.ModeDevice
		}
		if err := x.file(h.Name, mode, tr); err != nil {
			return err
		}
	}
}

func (x *extractor) zip(data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return &ExtractError{"", "bad zip archive: " + err.Error()}
	}
	if len(zr.File) > x.opts.MaxFiles*2 {
		return &ExtractError{"", fmt.Sprintf("more than %d files", x.opts.MaxFiles)}
	}
	for _, f := range zr.File {
		mode := f.Mode()
		if strings.HasSuffix(f.Name, "/") {
			mode |= fs.ModeDir
		}
		if err := x.zipEntry(f, mode); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) zipEntry(f *zip.File, mode fs.FileMode) error {
	if !mode.IsRegular() {
		return x.file(f.Name, mode, nil)
	}
	if _, err := cleanEntry(f.Name); err != nil {
		return &ExtractError{f.Name, err.Error()}
	}
	rc, err := f.Open()
	if err != nil {
		return &ExtractError{f.Name, "unreadable: " + err.Error()}
	}
	defer rc.Close()
	return x.file(f.Name, mode, rc)
}

// checkTree walks an app folder given as a directory and applies the same caps as extraction.
// Symbolic links are allowed only when they stay inside the folder (package managers create
// them in node_modules), so nothing outside the app can be bundled.
func checkTree(root string, opts Options) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("app folder: %w", err)
	}
	files := 0
	var total int64
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(p)
			if err != nil || !within(realRoot, target) {
				return &ExtractError{rel, "symbolic link points outside the app folder"}
			}
			return nil
		case info.IsDir():
			return nil
		case !info.Mode().IsRegular():
			return &ExtractError{rel, "only regular files and folders are allowed"}
		}
		files++
		total += info.Size()
		switch {
		case files > opts.MaxFiles:
			return &ExtractError{"", fmt.Sprintf("more than %d files", opts.MaxFiles)}
		case info.Size() > opts.MaxFileBytes:
			return &ExtractError{rel, fmt.Sprintf("larger than %d bytes", opts.MaxFileBytes)}
		case total > opts.MaxTotalBytes:
			return &ExtractError{"", fmt.Sprintf("app folder exceeds %d bytes", opts.MaxTotalBytes)}
		}
		return nil
	})
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
