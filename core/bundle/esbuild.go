package bundle

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// nodeBuiltins are Node's core modules. Apps have no files, sockets or processes, so importing
// one is refused at deploy time rather than failing at run time.
var nodeBuiltins = map[string]bool{
	"assert": true, "async_hooks": true, "buffer": true, "child_process": true, "cluster": true,
	"console": true, "constants": true, "crypto": true, "dgram": true, "diagnostics_channel": true,
	"dns": true, "domain": true, "events": true, "fs": true, "http": true, "http2": true,
	"https": true, "inspector": true, "module": true, "net": true, "os": true, "path": true,
	"perf_hooks": true, "process": true, "punycode": true, "querystring": true, "readline": true,
	"repl": true, "stream": true, "string_decoder": true, "sys": true, "timers": true, "tls": true,
	"trace_events": true, "tty": true, "url": true, "util": true, "v8": true, "vm": true,
	"wasi": true, "worker_threads": true, "zlib": true,
}

// builtinName returns the Node module an import path names, or "".
func builtinName(p string) string {
	if strings.HasPrefix(p, "node:") {
		return p
	}
	first, _, _ := strings.Cut(p, "/")
	if nodeBuiltins[first] {
		return p
	}
	return ""
}

type skipResolve struct{}

// guardPlugin refuses Node built-ins (unless the app ships an npm package of that name, like
// the "buffer" or "events" polyfills) and any file outside the app folder.
func guardPlugin(root string) api.Plugin {
	return api.Plugin{
		Name: "bulwark",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: ".*"}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				if _, skip := a.PluginData.(skipResolve); skip {
					return api.OnResolveResult{}, nil
				}
				name := builtinName(a.Path)
				if name == "" {
					return api.OnResolveResult{}, nil
				}
				if !strings.HasPrefix(name, "node:") {
					r := b.Resolve(a.Path, api.ResolveOptions{Importer: a.Importer, ResolveDir: a.ResolveDir, Kind: a.Kind, PluginData: skipResolve{}})
					if len(r.Errors) == 0 && r.Path != "" {
						return api.OnResolveResult{Path: r.Path}, nil
					}
				}
				return api.OnResolveResult{Errors: []api.Message{{
					Text: fmt.Sprintf("import of Node built-in %q is not allowed: apps have no file, socket or process access", name),
				}}}, nil
			})
			b.OnLoad(api.OnLoadOptions{Filter: ".*"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
				if a.Namespace != "file" {
					return api.OnLoadResult{}, nil
				}
				real, err := filepath.EvalSymlinks(a.Path)
				if err != nil || !within(root, real) {
					return api.OnLoadResult{Errors: []api.Message{{Text: fmt.Sprintf("%s is outside the app folder", a.Path)}}}, nil
				}
				return api.OnLoadResult{}, nil
			})
		},
	}
}

func esbuild(root, entry string, opts Options) (string, []string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", nil, fmt.Errorf("bundle: %w", err)
	}
	res := api.Build(api.BuildOptions{
		EntryPoints:   []string{entry},
		AbsWorkingDir: root,
		Bundle:        true,
		Write:         false,
		Format:        api.FormatIIFE,
		GlobalName:    GlobalName,
		Platform:      api.PlatformNeutral,
		Target:        api.ES2022,
		// goja parses ES2022 except these; esbuild rewrites them into generators and promises.
		Supported: map[string]bool{
			"async-generator":      false,
			"for-await":            false,
			"regexp-match-indices": false,
		},
		MainFields:        []string{"module", "main"},
		Conditions:        []string{"worker", "browser"},
		Define:            map[string]string{"process.env.NODE_ENV": `"production"`},
		Loader:            map[string]api.Loader{".js": api.LoaderJS, ".mjs": api.LoaderJS, ".cjs": api.LoaderJS, ".jsx": api.LoaderJSX, ".ts": api.LoaderTS, ".mts": api.LoaderTS, ".cts": api.LoaderTS, ".tsx": api.LoaderTSX, ".json": api.LoaderJSON, ".txt": api.LoaderText, ".html": api.LoaderText, ".css": api.LoaderText},
		MinifyWhitespace:  opts.Minify,
		MinifySyntax:      opts.Minify,
		KeepNames:         false,
		Charset:           api.CharsetUTF8,
		LegalComments:     api.LegalCommentsNone,
		LogLevel:          api.LogLevelSilent,
		Plugins:           []api.Plugin{guardPlugin(realRoot)},
		TreeShaking:       api.TreeShakingTrue,
		IgnoreAnnotations: false,
	})
	warnings := make([]string, 0, len(res.Warnings))
	for _, w := range res.Warnings {
		warnings = append(warnings, toMessage(root, w).String())
	}
	if len(res.Errors) > 0 {
		e := &Error{}
		for _, m := range res.Errors {
			e.Messages = append(e.Messages, toMessage(root, m))
		}
		return "", warnings, e
	}
	if len(res.OutputFiles) != 1 {
		return "", warnings, &Error{[]Message{{Text: fmt.Sprintf("esbuild produced %d outputs, want 1", len(res.OutputFiles))}}}
	}
	return string(res.OutputFiles[0].Contents), warnings, nil
}

func toMessage(root string, m api.Message) Message {
	out := Message{Text: m.Text}
	if strings.Contains(m.Text, "Top-level await is currently not supported") || strings.Contains(m.Text, "top-level await") {
		out.Text = "top-level await is not allowed: an app's modules must finish loading synchronously; move the await into fetch or scheduled"
	}
	if m.Location != nil {
		f := m.Location.File
		if rel, err := filepath.Rel(root, f); err == nil && !strings.HasPrefix(rel, "..") && filepath.IsAbs(f) {
			f = rel
		}
		out.File = filepath.ToSlash(f)
		out.Line = m.Location.Line
		out.Col = m.Location.Column + 1
	}
	for _, n := range m.Notes {
		if n.Text != "" && !strings.Contains(n.Text, "mark the path") && !strings.Contains(n.Text, "platform") {
			out.Text += " (" + n.Text + ")"
		}
	}
	return out
}
