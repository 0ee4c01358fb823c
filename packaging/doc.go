// Package packaging holds the Debian packages, the hardened systemd units and the install
// scripts of Bulwark, and the test that builds the packages and installs them into a
// throwaway Debian root booted under real systemd. It has no Go code of its own.
package packaging
