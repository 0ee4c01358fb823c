#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test Bulwark: Debian packages through
# apt and Go tools through `go install`. Idempotent and quiet when everything is present.
set -euo pipefail

apt_pkgs=(
  gcc pkg-config                                   # cgo (go-sqlite3, Fyne)
  libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev
  libxxf86vm-dev libwayland-dev libxkbcommon-dev   # Fyne's GL/X/Wayland build deps
  chromium                                         # real-browser XSS checks
  xvfb xauth xdotool imagemagick curl dbus-daemon  # console under a real X server (xvfb-run needs xauth), screenshots, private D-Bus session for notifications
  sqlite3 ca-certificates
  debootstrap systemd-container dpkg-dev           # package install tests
)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "devdeps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm: the bundler's and runtime's tests install a real npm package (marked). Checked by
# command, not package name, so a NodeSource nodejs (which ships npm) is left alone.
if ! command -v npm >/dev/null; then
  echo "devdeps: installing npm"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

gobin="$(go env GOPATH)/bin"
tool() { # name module@version
  [ -x "$gobin/$1" ] && return 0
  echo "devdeps: go install $2"
  go install "$2"
}
tool pebble github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1
tool pebble-challtestsrv github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@v2.10.1
tool nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.0
tool benchstat golang.org/x/perf/cmd/benchstat@latest
