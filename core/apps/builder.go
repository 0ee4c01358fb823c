package apps

import (
	"encoding/json"
	"fmt"

	"bulwark/core/bundle"
)

// Bundler is the Builder of the appliance: core/bundle (esbuild, archive checks, goja
// syntax check) with its default caps.
func Bundler(opts bundle.Options) Builder {
	return BuilderFunc(func(path string) (*Built, error) {
		res, err := bundle.Build(path, opts)
		if err != nil {
			return nil, err
		}
		return FromBundle(res)
	})
}

// FromBundle turns core/bundle's result (of a folder or an uploaded archive) into a Built.
func FromBundle(res *bundle.Result) (*Built, error) {
	mj, err := storedManifest(res.Manifest)
	if err != nil {
		return nil, err
	}
	return &Built{Manifest: res.Manifest, ManifestJSON: mj, Program: res.JS, Warnings: res.Warnings}, nil
}

// storedManifest encodes a parsed manifest so that manifest.Parse reads it back: the strict
// decoder refuses the nulls of empty lists and maps, so they are left out.
func storedManifest(m any) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return json.Marshal(dropNulls(v))
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
			} else {
				t[k] = dropNulls(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = dropNulls(x)
		}
	}
	return v
}
