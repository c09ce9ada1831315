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
#
# Both steps run seconds after the apply that granted their roles (the app's on the deployment
# container, the pipeline's on `models`). Azure RBAC takes minutes to propagate and answers 403
# until then, so each step is retried every DEPLOY_RETRY_INTERVAL seconds (default 30) for at
# most DEPLOY_RETRY_SECONDS (default 600) in all; and each attempt of the zip deploy is cut off
# after DEPLOY_ATTEMPT_SECONDS (default 900), because the CLI's post-deploy health check on
# Flex Consumption waits forever for an app that never becomes healthy. The job therefore
# fails within a known time instead of hanging until GitLab's job timeout.
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
need timeout coreutils

azure_login

zip_deploy() {
  # On Flex Consumption the CLI uses the OneDeploy endpoint; on Dedicated plans, zip deploy.
  # Either way the host restarts on the new package.
  timeout "${DEPLOY_ATTEMPT_SECONDS:-900}" az functionapp deployment source config-zip \
    --resource-group "$RESOURCE_GROUP_NAME" --name "$FUNCTION_APP_NAME" \
    --src "$zip" --timeout 600 --output none --only-show-errors
}
log "zip deploy of $zip to $FUNCTION_APP_NAME ($RESOURCE_GROUP_NAME)"
retry_bounded "zip deploy to $FUNCTION_APP_NAME" zip_deploy

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trainer_azure_env "$work"
if [ -n "${FLUXOPS_TRAIN_DATA:-}" ]; then
  [ -f "$FLUXOPS_TRAIN_DATA" ] || die "FLUXOPS_TRAIN_DATA=$FLUXOPS_TRAIN_DATA is not a file"
  set -- --data "$FLUXOPS_TRAIN_DATA"
else
  set -- --synthetic 1000
fi
publish() {
  "$trainer" "$@" --name "${FLUXOPS_MODEL_NAME:-fluxops}" --out "$work/models" \
    --publish "$MODEL_CONTAINER_URL"
}
log "fluxops-train $* --publish $MODEL_CONTAINER_URL"
retry_bounded "training or publishing the model" publish "$@"
log "deployed $env"
