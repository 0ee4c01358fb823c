#!/usr/bin/env bash
# Builds dist/bulwark_<version>_amd64.deb and dist/bulwark-console_<version>_amd64.deb with nfpm.
# The version comes from `git describe`, made Debian-compatible (must start with a digit).
set -euo pipefail
cd "$(dirname "$0")/.."
desc=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
case "$desc" in
  v[0-9]*) VERSION=${desc#v} ;;
  [0-9]*)  VERSION=$desc ;;
  *)       VERSION="0.0.0~git${desc}" ;;
esac
VERSION=${PKG_VERSION:-$VERSION}
VERSION=${VERSION//-/+}
export VERSION ARCH=${ARCH:-amd64}
mkdir -p dist/stage
ldflags="-s -w -X bulwark/core/version.Version=${VERSION}"
go build -trimpath -ldflags "$ldflags" -o dist/stage/bulwark ./cmd/appliance
go build -trimpath -ldflags "$ldflags" -o dist/stage/bulwark-console ./cmd/console
nfpm package --config packaging/deb/bulwark.yaml --packager deb --target "dist/bulwark_${VERSION}_${ARCH}.deb" >/dev/null
nfpm package --config packaging/deb/bulwark-console.yaml --packager deb --target "dist/bulwark-console_${VERSION}_${ARCH}.deb" >/dev/null
echo "dist/bulwark_${VERSION}_${ARCH}.deb"
echo "dist/bulwark-console_${VERSION}_${ARCH}.deb"
