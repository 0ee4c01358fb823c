#!/usr/bin/env bash
# Captures every console screen from a real window under Xvfb (Mesa llvmpipe) into
# docs/screenshots/. With BUNDLE=FILE it connects to that appliance; without, it runs on the
# built-in demo data (--demo). Used by `make screenshots`.
set -euo pipefail
out=${OUT:-docs/screenshots}
bin=${CONSOLE:-./bin/bulwark-console}
each=${EACH:-2s}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 0700 "$tmp/run"
export XDG_RUNTIME_DIR="$tmp/run" LIBGL_ALWAYS_SOFTWARE=1
args=(--tour "$each" --config-dir "$tmp/appliances")
if [ -n "${BUNDLE:-}" ]; then args+=(--bundle "$BUNDLE"); else args+=(--demo); fi
export OUT_DIR="$out" CONSOLE_BIN="$bin"
xvfb-run -a -s "-screen 0 1280x820x24" bash -c '
  set -o pipefail
  "$CONSOLE_BIN" "$@" | while read -r kind name _; do
    [ "$kind" = screen ] || continue
    import -window root "$OUT_DIR/$name.png"
    echo "captured $OUT_DIR/$name.png"
  done
' _ "${args[@]}"
n=$(ls "$out"/*.png 2>/dev/null | wc -l)
[ "$n" -ge 8 ] || { echo "screenshots: only $n screens captured" >&2; exit 1; }
