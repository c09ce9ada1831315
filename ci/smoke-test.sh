#!/bin/sh
# The verify stage: smoke tests against a deployed (or local) FluxOps API.
#   sh ci/smoke-test.sh https://<app>.azurewebsites.net
# Checks, failing on the first miss:
#   GET  /api/health       200 and "healthy" (retried while the app starts and loads the model)
#   GET  /api/model-info   200 with a version and the feature count
#   POST /api/predict      200 with a prediction, for a row of the right length
#   POST /api/predict      400 for a row of the wrong length
#   POST /api/predict      401 without the function key (only behind the Functions host)
# The function key of `predict` is fetched at run time with the Azure CLI when
# FUNCTION_APP_NAME and RESOURCE_GROUP_NAME are set (the pipeline), or read from the file named
# by SMOKE_FUNCTION_KEY_FILE; with neither (a local handler), no key is sent. The key is only
# ever written to a mode-600 header file for curl, never printed or put on a command line.
# SMOKE_HEALTH_TIMEOUT (seconds, default 300) bounds the wait for a healthy app.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

base=${1:-}
case "$base" in
  http://* | https://*) base=${base%/} ;;
  *) die "usage: sh ci/smoke-test.sh BASE_URL (http:// or https://)" ;;
esac
need curl
need jq

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
headers="$work/headers"
: >"$headers"
chmod 600 "$headers"

# request METHOD PATH [BODY]: sets $status, leaves the body in $work/body.
request() {
  set -- "$@" ""
  status=$(curl --silent --show-error --max-time 30 --output "$work/body" --write-out '%{http_code}' \
    --request "$1" --header @"$headers" --header 'Content-Type: application/json' \
    ${3:+--data "$3"} "$base$2") || status=000
}

# expect WHAT CODE: fails unless the last request answered CODE.
expect() {
  if [ "$status" != "$2" ]; then
    log "response body: $(head -c 500 "$work/body" 2>/dev/null)"
    die "$1: expected HTTP $2, got $status"
  fi
  log "ok: $1 ($status)"
}

# 1. Health, retried: after a deploy the host restarts, and the model appears once the
#    trainer has published it and the handler's watcher has seen it.
deadline=$(($(date +%s) + ${SMOKE_HEALTH_TIMEOUT:-300}))
while :; do
  request GET /api/health
  [ "$status" = 200 ] && break
  [ "$(date +%s)" -lt "$deadline" ] || expect "GET /api/health" 200
  log "health answered $status; retrying in 10 s"
  sleep 10
done
jq -e '.status == "healthy"' "$work/body" >/dev/null || die "GET /api/health: status is not \"healthy\""
log "ok: GET /api/health (200, healthy)"

# 2. Model information.
request GET /api/model-info
expect "GET /api/model-info" 200
version=$(jq -r '.version // empty' "$work/body")
n_features=$(jq -r '.n_features // empty' "$work/body")
[ -n "$version" ] && [ -n "$n_features" ] || die "GET /api/model-info: no version or n_features"
log "model version $version, $n_features features"

# 3. The function key, fetched now (it is a credential, so no job variable holds it).
key_source="none"
if [ -n "${SMOKE_FUNCTION_KEY_FILE:-}" ]; then
  key=$(cat "$SMOKE_FUNCTION_KEY_FILE")
  key_source="file"
elif [ -n "${FUNCTION_APP_NAME:-}" ] && [ -n "${RESOURCE_GROUP_NAME:-}" ]; then
  azure_login
  key=$(az functionapp function keys list --resource-group "$RESOURCE_GROUP_NAME" \
    --name "$FUNCTION_APP_NAME" --function-name predict --query default --output tsv \
    --only-show-errors) || die "fetching the function key of predict"
  key_source="azure"
fi
if [ "$key_source" != none ]; then
  [ -n "$key" ] || die "the function key of predict is empty"
  # Behind the Functions host, predict needs the key.
  request POST /api/predict '{"features":[0]}'
  expect "POST /api/predict without the function key" 401
  printf 'x-functions-key: %s\n' "$key" >"$headers"
  key=
fi

# 4. A valid prediction: a row of the right length.
row=$(jq -cn --argjson n "$n_features" '[range($n)] | map(0.5)')
request POST /api/predict "{\"features\":$row}"
expect "POST /api/predict" 200
jq -e 'has("prediction") and has("probability") and .model_version != null' "$work/body" >/dev/null ||
  die "POST /api/predict: the answer lacks prediction, probability or model_version"
log "prediction: $(jq -c '{prediction, confidence, model_version}' "$work/body")"

# 5. An invalid prediction: one feature too many.
row=$(jq -cn --argjson n "$n_features" '[range($n + 1)] | map(0.5)')
request POST /api/predict "{\"features\":$row}"
expect "POST /api/predict with $((n_features + 1)) features" 400
jq -e '.error.code' "$work/body" >/dev/null || die "the 400 answer is not {\"error\":{\"code\",...}}"

log "all smoke tests passed against $base"
