// Package version holds the build's version, set by the linker from `git describe`.
package version

// Version is overridden at link time (-X bulwark/core/version.Version=...).
var Version = "dev"
