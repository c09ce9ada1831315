#!/bin/sh
# The deploy stage after `terraform apply`, in the Azure CLI image:
#   sh ci/deploy.sh ENV
# 1. zip-deploys dist/fluxops-functions.zip (build:package) to the environment's Function App;
# 2. trains the model with dist/fluxops-train (build:trainer) and publishes it to the
#    environment's registry, where the running handler picks it up (it watches latest.json).
# The Function App, resource group and model container come from the apply job's dotenv
# report (FUNCTION_APP_NAME, RESOURCE_GROUP_NAME, MODEL_CONTAINER_URL). Training data:
# FLUXOPS_TRAIN_DATA (a CSV file in the repository) if set, else the reference synthetic set
# (--synthetic 1000, seed 42), so a redeploy of the same commit publishes the same forest.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

env=${1:-}
check_env_name "$env"
require_var FUNCTION_APP_NAME RESOURCE_GROUP_NAME MODEL_CONTAINER_URL
zip=dist/fluxops-functions.zip
trainer=dist/fluxops-train
[ -f "$zip" ] || die "$zip is missing (the build:package artifact)"
[ -x "$trainer" ] || die "$trainer is missing or not executable (the build:trainer artifact)"

azure_login

log "zip deploy of $zip to $FUNCTION_APP_NAME ($RESOURCE_GROUP_NAME)"
# On Flex Consumption the CLI uses the OneDeploy endpoint; on Premium and Dedicated plans,
# zip deploy. Either way the host restarts on the new package.
az functionapp deployment source config-zip \
  --resource-group "$RESOURCE_GROUP_NAME" --name "$FUNCTION_APP_NAME" \
  --src "$zip" --timeout 900 --output none --only-show-errors ||
  die "zip deploy to $FUNCTION_APP_NAME"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trainer_azure_env "$work"
if [ -n "${FLUXOPS_TRAIN_DATA:-}" ]; then
  [ -f "$FLUXOPS_TRAIN_DATA" ] || die "FLUXOPS_TRAIN_DATA=$FLUXOPS_TRAIN_DATA is not a file"
  set -- --data "$FLUXOPS_TRAIN_DATA"
else
  set -- --synthetic 1000
fi
log "fluxops-train $* --publish $MODEL_CONTAINER_URL"
"$trainer" "$@" --name "${FLUXOPS_MODEL_NAME:-fluxops}" --out "$work/models" \
  --publish "$MODEL_CONTAINER_URL" || die "training or publishing the model"
log "deployed $env"
