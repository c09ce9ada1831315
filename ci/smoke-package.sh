#!/bin/sh
# Smoke test of the handler inside a Functions zip, started the way the Functions host starts
# it: from the unpacked zip, on the port given in FUNCTIONS_CUSTOMHANDLER_PORT, and expected
# to answer `GET /` within 60 s. Then, with no model (the build job):
#   GET /                   200 (the host's readiness probe)
#   GET /api/health         503 "unhealthy" (no model in the empty registry)
#   GET /api/openapi.json   200
# or, with SMOKE_MODELS naming a registry folder that holds a model (the test command), the
# whole verify-stage smoke test, ci/smoke-test.sh. Finally SIGTERM must stop it cleanly
# (exit status 0) within 10 s.
#   sh ci/smoke-package.sh dist/fluxops-functions.zip
set -eu
cd "$(dirname "$0")/.."
ci_name=smoke-package
. ci/lib.sh

zip=${1:-}
[ -f "$zip" ] || die "usage: sh ci/smoke-package.sh FILE.zip"
need unzip
need curl
need python3

work=$(mktemp -d)
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

unzip -q "$zip" -d "$work/app" || die "cannot unpack $zip"
[ -x "$work/app/handler" ] || die "$zip holds no executable handler"
models=${SMOKE_MODELS:-$work/models}
mkdir -p "$models"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

log "starting the zipped handler on port $port (registry $models)"
(cd "$work/app" && exec env FUNCTIONS_CUSTOMHANDLER_PORT="$port" FLUXOPS_MODEL_SOURCE="$models" \
  RUST_LOG=warn ./handler >"$work/console.log" 2>&1) &
pid=$!

# running: whether the handler still runs (an exited child stays a zombie until `wait`, so
# `kill -0` alone cannot tell).
running() {
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d ' ' -f 1)
  [ "$state" != Z ]
}

# status PATH: the HTTP status of GET PATH (000 when nothing answers).
status() {
  curl --silent --max-time 5 --output "$work/body" --write-out '%{http_code}' "$base$1" || true
}

deadline=$(($(date +%s) + 60))
until [ "$(status /)" = 200 ]; do
  if ! running; then
    sed 's/^/  | /' "$work/console.log" >&2
    die "the zipped handler exited before it answered"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || die "the zipped handler did not answer GET / within 60 s"
  sleep 0.2
done
log "ok: GET / (200)"

if [ -n "${SMOKE_MODELS:-}" ]; then
  SMOKE_HEALTH_TIMEOUT=60 sh ci/smoke-test.sh "$base" || die "ci/smoke-test.sh against the zipped handler"
else
  code=$(status /api/health)
  [ "$code" = 503 ] && grep -q '"unhealthy"' "$work/body" ||
    die "GET /api/health with no model: expected 503 unhealthy, got $code: $(head -c 300 "$work/body")"
  log "ok: GET /api/health (503 unhealthy, no model)"
  code=$(status /api/openapi.json)
  [ "$code" = 200 ] || die "GET /api/openapi.json: expected 200, got $code"
  log "ok: GET /api/openapi.json (200)"
fi

kill -TERM "$pid"
waited=0
while running; do
  waited=$((waited + 1))
  [ "$waited" -le 50 ] || die "the zipped handler did not stop within 10 s of SIGTERM"
  sleep 0.2
done
exit_status=0
wait "$pid" || exit_status=$?
pid=
[ "$exit_status" = 0 ] || die "the zipped handler exited with status $exit_status after SIGTERM"
log "ok: stopped cleanly on SIGTERM; $zip serves"
