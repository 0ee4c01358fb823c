#!/usr/bin/env bash
# Captures every console screen from a real window under Xvfb (Mesa llvmpipe) into
# docs/screenshots/. Used by `make screenshots`.
#
#   default      start a throwaway appliance (./bin/bulwark serve on free loopback ports),
#                send it attack traffic during the whole tour, and connect with its first
#                admin bundle
#   BUNDLE=FILE  connect to that appliance instead
#   DEMO=1       use the console's built-in demo data (no appliance)
set -euo pipefail
out=${OUT:-docs/screenshots}
bin=${CONSOLE:-./bin/bulwark-console}
bulwark=${BULWARK:-./bin/bulwark}
each=${EACH:-2s}
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -m 0700 "$tmp/run"
export XDG_RUNTIME_DIR="$tmp/run" LIBGL_ALWAYS_SOFTWARE=1

# freeport picks a random high port nothing answers on (bash only, no python needed).
freeport() {
  local p
  while true; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# traffic sends a mix of probes and ordinary requests until killed.
traffic() {
  local base=$1 ca=$2
  local paths=("/.env" "/.git/config" "/wp-login.php" "/?q=1'%20OR%20'1'%3D'1" "/?q=%3Cscript%3Ealert(1)%3C/script%3E"
    "/static/..%2f..%2fetc/passwd" "/backup.sql" "/.aws/credentials" "/" "/index.html" "/phpmyadmin/" "/.git/HEAD")
  while true; do
    for p in "${paths[@]}"; do
      # from several loopback addresses, so bans of one leave the others attacking
      curl -s -o /dev/null --max-time 5 --cacert "$ca" --interface "127.0.0.$((RANDOM % 12 + 2))" -A "Mozilla/5.0 (scan)" "$base$p" || true
      sleep 0.$((RANDOM % 4 + 1))
    done
  done
}

args=(--tour "$each" --config-dir "$tmp/appliances")
if [ -n "${DEMO:-}" ]; then
  args+=(--demo)
elif [ -n "${BUNDLE:-}" ]; then
  args+=(--bundle "$BUNDLE")
else
  public=127.0.0.1:$(freeport) admin=127.0.0.1:$(freeport)
  printf '[server]\nlisten = "%s"\nhttp_listen = ""\n\n[admin]\nlisten = "%s"\n' "$public" "$admin" > "$tmp/bulwark.toml"
  "$bulwark" serve --config "$tmp/bulwark.toml" --data "$tmp/data" > "$tmp/serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    # a bare TCP connect: a TLS probe without a client certificate would be an admin_auth event
    [ -f "$tmp/data/admin.bundle" ] && (exec 3<>"/dev/tcp/${admin%:*}/${admin#*:}") 2>/dev/null && break
    sleep 0.2
  done
  [ -f "$tmp/data/admin.bundle" ] || { cat "$tmp/serve.log" >&2; echo "screenshots: the appliance did not start" >&2; exit 1; }
  # Alert channels and rules of every kind, so the alert screens show their editors filled
  # and the traffic raises alerts (and the console's new-alert badge) during the tour.
  cat > "$tmp/ch-desk.json" <<'JSON'
{"name":"desk","type":"console"}
JSON
  cat > "$tmp/ch-mail.json" <<'JSON'
{"name":"ops-mail","type":"smtp","smtp":{"addr":"mail.example.test:587","from":"bulwark@example.test","to":["ops@example.test","oncall@example.test"],"username":"bulwark","password":"not-a-real-password"}}
JSON
  cat > "$tmp/ch-hook.json" <<'JSON'
{"name":"ops-hook","type":"webhook","webhook":{"url":"https://hooks.example.test/bulwark","secret":"not-a-real-secret","timeout":"5s","retries":3}}
JSON
  cat > "$tmp/ch-siem.json" <<'JSON'
{"name":"siem","type":"syslog","syslog":{"network":"tls","addr":"siem.example.test:6514","facility":4,"app_name":"bulwark"}}
JSON
  cat > "$tmp/r-probe.json" <<'JSON'
{"name":"git probes","type":"any","match":{"kind":"probe"},"group_by":"ip","suppress":"1h","channels":["desk"]}
JSON
  cat > "$tmp/r-sqli.json" <<'JSON'
{"name":"sqli burst","type":"threshold","match":{"kind":"sqli","severity":"high"},"threshold":10,"window":"1m","group_by":"ip","channels":["desk","ops-mail"],"disabled":true}
JSON
  cat > "$tmp/r-spike.json" <<'JSON'
{"name":"waf spike","type":"spike","match":{"kind":"waf"},"factor":3,"min_count":20,"window":"5m","channels":["desk","siem"],"disabled":true}
JSON
  for c in desk mail hook siem; do "$bulwark" alerts channels add --data "$tmp/data" "$tmp/ch-$c.json" >/dev/null; done
  for r in probe sqli spike; do "$bulwark" alerts rules add --data "$tmp/data" "$tmp/r-$r.json" >/dev/null; done
  traffic "https://$public" "$tmp/data/ca.pem" &
  pids+=($!)
  sleep 5 # some history before the console connects
  args+=(--bundle "$tmp/data/admin.bundle")
fi
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
