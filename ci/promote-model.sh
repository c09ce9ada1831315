#!/bin/sh
# Rollback (or promotion) of the served model: points a registry's latest.json at a version
# that was published before. The handlers of that environment load it within
# FLUXOPS_MODEL_REFRESH_SECS (30 s by default), after checking its digest.
#   sh ci/promote-model.sh https://<account>.blob.core.windows.net/models VERSION [NAME]
# VERSION is a folder under NAME/ (default name: fluxops), e.g. 20261127T220000Z-1a2b3c4d;
# list them with
#   az storage blob list --account-name <account> --container-name models --prefix fluxops/ \
#     --auth-mode login --query "[?ends_with(name, 'model.json')].name" -o tsv
# Signs in as the pipeline's identity when AZURE_CLIENT_ID and a credential are set (a job),
# else uses the current `az login` (an operator with Storage Blob Data Contributor on the
# container). The pointer is replaced only if nobody moved it in between (If-Match on its
# ETag), the same rule `fluxops-train --publish` follows, and in the format of the registry
# (fluxops-store's LatestPointer: version, sha256, path, published_at).
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

container=${1:-}
version=${2:-}
name=${3:-fluxops}
case "$container" in
  https://*.blob.core.windows.net/*) container=${container%/} ;;
  *) die "usage: sh ci/promote-model.sh https://<account>.blob.core.windows.net/<container> VERSION [NAME]" ;;
esac
case "$version$name" in
  */* | *..* | '') die "VERSION and NAME are single path segments" ;;
esac
[ -n "$version" ] || die "VERSION is missing"
need az azure-cli
need sha256sum coreutils

if [ -n "${AZURE_CLIENT_ID:-}" ] && { [ -n "${AZURE_ID_TOKEN:-}" ] || [ -n "${AZURE_CLIENT_SECRET:-}" ]; }; then
  azure_login
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model_key="$name/$version/model.json"

log "reading $container/$model_key"
az storage blob download --blob-url "$container/$model_key" --file "$work/model.json" \
  --auth-mode login --output none --only-show-errors || die "$model_key cannot be read"
sha256=$(sha256sum "$work/model.json" | cut -d ' ' -f 1)

etag=$(az storage blob show --blob-url "$container/$name/latest.json" --auth-mode login \
  --query properties.etag --output tsv --only-show-errors) || die "$name/latest.json cannot be read"
[ -n "$etag" ] || die "$name/latest.json has no ETag"

printf '{\n  "version": "%s",\n  "sha256": "%s",\n  "path": "%s",\n  "published_at": "%s"\n}\n' \
  "$version" "$sha256" "$model_key" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/latest.json"
log "pointing $name/latest.json at $version (sha256 $sha256)"
az storage blob upload --blob-url "$container/$name/latest.json" --file "$work/latest.json" \
  --content-type application/json --overwrite --if-match "$etag" --auth-mode login \
  --output none --only-show-errors ||
  die "latest.json changed while promoting (another publisher?); run again"
log "done: $name now serves $version once the handlers refresh"
