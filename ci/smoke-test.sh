#!/bin/sh
# The verify stage: smoke tests against a deployed (or local) FluxOps API.
#   sh ci/smoke-test.sh https://<app>.azurewebsites.net
# Checks, failing on the first miss:
#   GET  /api/health       200 and "healthy" (retried while the app starts and loads the model)
#   GET  /api/model-info   200 with a name, a version and the feature count
#   POST /api/predict      200 with a prediction, for a row of the right length
#   POST /api/predict      400 for a row of the wrong length
#   POST /api/predict      401 without the function key (only behind the Functions host)
#   GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/<name>[/ready]
#                          200, anonymous (the Open Inference Protocol); /v2 lists the
#                          binary_tensor_data extension, the model's input is [-1, n_features]
#   POST /v2/models/<name>/infer
#                          200 with the label /api/predict gave for the same row; 400 with
#                          {"error": "..."} for a row of the wrong length; 401 without the function
#                          key (only behind the Functions host)
# The function keys of `predict` and `v2-infer` (each function has its own) are fetched at run
# time with the Azure CLI when FUNCTION_APP_NAME and RESOURCE_GROUP_NAME are set (the pipeline),
# or read from the file named by SMOKE_FUNCTION_KEY_FILE (a host key, valid for both); with
# neither (a local handler), no key is sent. A key is only ever written to a mode-600 header file
# for curl, never printed or put on a command line.
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
# One curl header file per caller: anonymous, and each key-protected function.
for file in anonymous predict v2-infer; do
  : >"$work/$file.headers"
  chmod 600 "$work/$file.headers"
done
headers="$work/anonymous.headers"

# request METHOD PATH [BODY]: sets $status, leaves the body in $work/body; sends the headers in
# the file $headers.
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
name=$(jq -r '.name // empty' "$work/body")
version=$(jq -r '.version // empty' "$work/body")
n_features=$(jq -r '.n_features // empty' "$work/body")
[ -n "$name" ] && [ -n "$version" ] && [ -n "$n_features" ] || die "GET /api/model-info: no name, version or n_features"
log "model $name, version $version, $n_features features"

# 3. The function keys, fetched now (they are credentials, so no job variable holds them).
#    Behind the Functions host, each key-protected function refuses a call without its key.
key_source="none"
if [ -n "${SMOKE_FUNCTION_KEY_FILE:-}" ]; then
  key_source="file"
elif [ -n "${FUNCTION_APP_NAME:-}" ] && [ -n "${RESOURCE_GROUP_NAME:-}" ]; then
  azure_login
  key_source="azure"
fi
# use_key FUNCTION: writes the function key of FUNCTION into $work/FUNCTION.headers.
use_key() {
  case "$key_source" in
    file) key=$(cat "$SMOKE_FUNCTION_KEY_FILE") ;;
    azure)
      key=$(az functionapp function keys list --resource-group "$RESOURCE_GROUP_NAME" \
        --name "$FUNCTION_APP_NAME" --function-name "$1" --query default --output tsv \
        --only-show-errors) || die "fetching the function key of $1"
      ;;
  esac
  [ -n "$key" ] || die "the function key of $1 is empty"
  printf 'x-functions-key: %s\n' "$key" >"$work/$1.headers"
  key=
}
row=$(jq -cn --argjson n "$n_features" '[range($n)] | map(0.5)')
long_row=$(jq -cn --argjson n "$n_features" '[range($n + 1)] | map(0.5)')
infer_request() {
  jq -cn --argjson row "$1" '{id: "smoke", inputs: [{name: "input-0", shape: [1, ($row | length)], datatype: "FP64", data: $row}]}'
}
if [ "$key_source" != none ]; then
  request POST /api/predict '{"features":[0]}'
  expect "POST /api/predict without the function key" 401
  request POST "/v2/models/$name/infer" "$(infer_request "$row")"
  expect "POST /v2/models/$name/infer without the function key" 401
  use_key predict
  use_key v2-infer
fi
headers="$work/predict.headers"

# 4. A valid prediction: a row of the right length.
request POST /api/predict "{\"features\":$row}"
expect "POST /api/predict" 200
jq -e 'has("prediction") and has("probability") and .model_version != null' "$work/body" >/dev/null ||
  die "POST /api/predict: the answer lacks prediction, probability or model_version"
log "prediction: $(jq -c '{prediction, confidence, model_version}' "$work/body")"
prediction=$(jq -c '.prediction' "$work/body")

# 5. An invalid prediction: one feature too many.
request POST /api/predict "{\"features\":$long_row}"
expect "POST /api/predict with $((n_features + 1)) features" 400
jq -e '.error.code' "$work/body" >/dev/null || die "the 400 answer is not {\"error\":{\"code\",...}}"

# 6. The Open Inference Protocol: server and model routes, anonymous.
headers="$work/anonymous.headers"
for path in /v2/health/live /v2/health/ready /v2 "/v2/models/$name" "/v2/models/$name/ready"; do
  request GET "$path"
  expect "GET $path" 200
  case "$path" in
    /v2)
      jq -e '.extensions | index("binary_tensor_data")' "$work/body" >/dev/null ||
        die "GET /v2: binary_tensor_data is not among the extensions"
      ;;
    "/v2/models/$name")
      jq -e --argjson n "$n_features" '.inputs[0].shape == [-1, $n]' "$work/body" >/dev/null ||
        die "GET /v2/models/$name: the input is not [-1, $n_features]"
      ;;
  esac
done

# 7. V2 inference: the label /api/predict gave for the same row; the V2 error shape.
headers="$work/v2-infer.headers"
request POST "/v2/models/$name/infer" "$(infer_request "$row")"
expect "POST /v2/models/$name/infer" 200
jq -e --argjson expected "$prediction" '.id == "smoke" and
    (.outputs[] | select(.name == "predict") | .shape == [1, 1] and .data == [$expected])' \
  "$work/body" >/dev/null || die "POST /v2/models/$name/infer: not the label /api/predict gave ($prediction)"
log "V2 prediction: $(jq -c '[.outputs[] | {name, data}]' "$work/body")"
request POST "/v2/models/$name/infer" "$(infer_request "$long_row")"
expect "POST /v2/models/$name/infer with $((n_features + 1)) features" 400
jq -e '(.error | type) == "string"' "$work/body" >/dev/null || die "the V2 400 answer is not {\"error\": \"...\"}"

log "all smoke tests passed against $base"
