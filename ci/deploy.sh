#!/bin/sh
# The deploy stage after `terraform apply`, in the Azure CLI image:
#   sh ci/deploy.sh ENV
# 1. zip-deploys dist/fluxops-functions.zip (build:package) to the environment's Function App;
# 2. waits until the pipeline identity may read the registry's `models` container and the
#    `logs` container beside it (where the trainer keeps each run's metrics and log);
# 3. trains the model with dist/fluxops-train (build:trainer) and publishes it, once, to the
#    environment's registry, where the running handler picks it up (it watches latest.json).
# The Function App, resource group and model container come from the apply job's dotenv
# report (FUNCTION_APP_NAME, RESOURCE_GROUP_NAME, MODEL_CONTAINER_URL). Training data:
# FLUXOPS_TRAIN_DATA (a CSV file in the repository) if set, else the reference synthetic set
# (--synthetic 1000, seed 42), so a redeploy of the same commit publishes the same forest.
#
# These steps run minutes after the apply that granted their roles, and Azure RBAC may still
# answer 403 (docs/IaC_Design.md, decision 12). The zip deploy (the same package again) and the
# reads are safe to repeat, so they are retried every DEPLOY_RETRY_INTERVAL seconds (default
# 30). The publish is not: every run of the trainer moves latest.json to a new version. So it
# runs once, after both containers accepted the identity, and when it fails the job says
# whether latest.json moved (that model is live) or not (nothing was published).
# The whole script ends within DEPLOY_SECONDS (default 1500, 25 minutes) of its start: every
# attempt and every wait is cut to what remains, and each zip-deploy attempt also after
# DEPLOY_ATTEMPT_SECONDS (default 900), because the CLI's post-deploy health check on Flex
# Consumption waits forever for an app that never becomes healthy. The deploy jobs' timeout
# (30 minutes) leaves the other 5 minutes for the job's set-up.
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
deadline_start "${DEPLOY_SECONDS:-1500}"

# https://<account>.blob.core.windows.net/<container>, as infra/terraform outputs it.
account=${MODEL_CONTAINER_URL#https://}
account=${account%%.*}
models_container=${MODEL_CONTAINER_URL##*/}
[ -n "$account" ] && [ -n "$models_container" ] ||
  die "MODEL_CONTAINER_URL is not https://<account>.blob.core.windows.net/<container>"
# Where fluxops-train --publish writes each run's metrics.json and train.log.
logs_container=logs
model_name=${FLUXOPS_MODEL_NAME:-fluxops}

azure_login

zip_deploy() {
  # On Flex Consumption the CLI uses the OneDeploy endpoint; on Dedicated plans, zip deploy.
  # Either way the host restarts on the new package.
  before_deadline "${DEPLOY_ATTEMPT_SECONDS:-900}" az functionapp deployment source config-zip \
    --resource-group "$RESOURCE_GROUP_NAME" --name "$FUNCTION_APP_NAME" \
    --src "$zip" --timeout 600 --output none --only-show-errors
}
log "zip deploy of $zip to $FUNCTION_APP_NAME ($RESOURCE_GROUP_NAME)"
retry_until_deadline "zip deploy to $FUNCTION_APP_NAME" zip_deploy

# latest_etag: prints the ETag of <name>/latest.json (nothing before the first publish); fails
# while the identity may not read the container.
latest_etag() {
  before_deadline 120 az storage blob list --account-name "$account" \
    --container-name "$models_container" --prefix "$model_name/latest.json" --auth-mode login \
    --query "[?name=='$model_name/latest.json'].properties.etag | [0]" --output tsv \
    --only-show-errors
}
# The publisher's roles on both containers are in effect once both can be read (a role
# assignment grants its reads and writes together).
registry_accepts_us() {
  etag_before=$(latest_etag) || return 1
  before_deadline 120 az storage blob list --account-name "$account" \
    --container-name "$logs_container" --num-results 1 --auth-mode login --output none \
    --only-show-errors
}
log "waiting until $account lets this identity read $models_container and $logs_container"
retry_until_deadline "reading $models_container and $logs_container in $account" registry_accepts_us

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trainer_azure_env "$work"
if [ -n "${FLUXOPS_TRAIN_DATA:-}" ]; then
  [ -f "$FLUXOPS_TRAIN_DATA" ] || die "FLUXOPS_TRAIN_DATA=$FLUXOPS_TRAIN_DATA is not a file"
  set -- --data "$FLUXOPS_TRAIN_DATA"
else
  set -- --synthetic 1000
fi
log "fluxops-train $* --publish $MODEL_CONTAINER_URL (once: every run publishes a new version)"
if ! before_deadline "$(seconds_left)" "$trainer" "$@" --name "$model_name" \
  --out "$work/models" --publish "$MODEL_CONTAINER_URL"; then
  if ! etag_after=$(latest_etag); then
    die "fluxops-train failed, and $model_name/latest.json cannot be read to tell whether it published: check the registry before running this job again"
  elif [ "$etag_after" != "$etag_before" ]; then
    die "fluxops-train failed after moving $model_name/latest.json to its new version, which is now served; not retried, because every run publishes another version (its output above says what failed)"
  fi
  die "fluxops-train failed before moving $model_name/latest.json: nothing was published (its output above says why)"
fi
log "deployed $env"
