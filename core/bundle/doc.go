// Package bundle turns an app folder or archive into one checked JavaScript program at deploy
// time.
//
// It extracts archives defensively (no ../ or absolute paths, links, devices, or oversize
// totals), bundles the entry with esbuild into an IIFE whose default export is reachable as
// the global GlobalName, lowers what goja cannot run (async generators, for await), refuses
// Node built-ins and top-level await with messages naming the import and its file:line, and
// compiles the result with goja to catch syntax errors before the version is stored.
//
// TypeScript is transpiled, not type-checked: esbuild strips types without checking them, so a
// type error deploys with a warning saying types were not checked.
//
// It does not run code or store versions; core/apps and core/sandbox do.
package bundle
