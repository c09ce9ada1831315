#!/bin/sh
# Terraform steps of the pipeline, run from the repository root in the Terraform image:
#   sh ci/terraform.sh validate        fmt -check, init without a backend, validate
#   sh ci/terraform.sh plan ENV        plan.tfplan + plan.json (GitLab's plan summary)
#   sh ci/terraform.sh apply ENV       apply plan.tfplan, then deploy.env (outputs, dotenv)
#   sh ci/terraform.sh destroy ENV     destroy everything of ENV
# ENV is dev, staging or prod (infra/terraform/envs/ENV.tfvars). State lives in GitLab
# (`backend "http" {}`), one state per environment, reached with the job's CI_JOB_TOKEN.
# The binary is $TF_BIN (default terraform; `tofu` works the same way).
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

tf=${TF_BIN:-terraform}
dir=infra/terraform
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
# The pipeline caches downloaded providers here; Terraform wants the folder to exist.
[ -z "${TF_PLUGIN_CACHE_DIR:-}" ] || mkdir -p "$TF_PLUGIN_CACHE_DIR"

# GitLab-managed state through the http backend's environment variables, so the job token
# never appears on a command line. The job token acts with the rights of whoever started the
# pipeline: Developer suffices to read the state, which is all a plan does (-lock=false: a plan
# writes nothing, and an apply of a plan whose state moved on fails as "stale"); locking and
# writing (apply, destroy) need Maintainer.
backend_env() {
  require_var CI_API_V4_URL CI_PROJECT_ID CI_JOB_TOKEN
  state="$CI_API_V4_URL/projects/$CI_PROJECT_ID/terraform/state/$1"
  export TF_HTTP_ADDRESS="$state" TF_HTTP_LOCK_ADDRESS="$state/lock" TF_HTTP_UNLOCK_ADDRESS="$state/lock"
  export TF_HTTP_LOCK_METHOD=POST TF_HTTP_UNLOCK_METHOD=DELETE TF_HTTP_RETRY_WAIT_MIN=5
  export TF_HTTP_USERNAME=gitlab-ci-token TF_HTTP_PASSWORD="$CI_JOB_TOKEN"
}

init() {
  backend_env "$1"
  terraform_azure_env
  log "$tf init (state: $1)"
  "$tf" -chdir="$dir" init -input=false -reconfigure >/dev/null || die "$tf init"
}

command=${1:-}
case "$command" in
  validate)
    log "$tf fmt -check -recursive -diff $dir"
    "$tf" fmt -check -recursive -diff "$dir" || die "$tf fmt (run it without -check to fix)"
    log "$tf init -backend=false; $tf validate"
    "$tf" -chdir="$dir" init -input=false -backend=false >/dev/null || die "$tf init -backend=false"
    "$tf" -chdir="$dir" validate || die "$tf validate"
    ;;
  plan)
    env=${2:-}
    check_env_name "$env"
    need jq
    init "$env"
    log "$tf plan -var-file=envs/$env.tfvars -out=plan.tfplan"
    "$tf" -chdir="$dir" plan -lock=false -var-file="envs/$env.tfvars" -out=plan.tfplan || die "$tf plan"
    # The summary GitLab shows in merge requests (artifacts:reports:terraform).
    "$tf" -chdir="$dir" show -json plan.tfplan |
      jq -c '[.resource_changes[]?.change.actions] | flatten
             | {create: map(select(. == "create")) | length,
                update: map(select(. == "update")) | length,
                delete: map(select(. == "delete")) | length}' >"$dir/plan.json" ||
      die "summarising the plan"
    log "plan summary: $(cat "$dir/plan.json")"
    ;;
  apply)
    env=${2:-}
    check_env_name "$env"
    need jq
    [ -f "$dir/plan.tfplan" ] || die "$dir/plan.tfplan is missing (the plan job's artifact)"
    init "$env"
    log "$tf apply plan.tfplan"
    "$tf" -chdir="$dir" apply -input=false -lock=true plan.tfplan || die "$tf apply"
    # What the next jobs need, none of it secret (outputs.tf has no sensitive output), as a
    # dotenv report: later jobs that `needs:` this one get the values as variables.
    "$tf" -chdir="$dir" output -json |
      jq -r '{FUNCTION_APP_NAME: .function_app_name.value,
              RESOURCE_GROUP_NAME: .resource_group_name.value,
              FUNCTION_APP_HOSTNAME: .function_app_default_hostname.value,
              HOSTING_PLAN_SKU: .hosting_plan_sku.value,
              MODEL_CONTAINER_URL: .model_container_url.value}
             | to_entries[] | "\(.key)=\(.value // "")"' >deploy.env || die "reading the outputs"
    grep -q '^FUNCTION_APP_HOSTNAME=..*' deploy.env || die "the outputs have no function_app_default_hostname"
    log "outputs for the next jobs:"
    sed 's/^/  /' deploy.env >&2
    ;;
  destroy)
    env=${2:-}
    check_env_name "$env"
    init "$env"
    log "$tf destroy -var-file=envs/$env.tfvars"
    "$tf" -chdir="$dir" destroy -input=false -auto-approve -lock=true -var-file="envs/$env.tfvars" ||
      die "$tf destroy"
    ;;
  *)
    die "usage: sh ci/terraform.sh validate | plan ENV | apply ENV | destroy ENV"
    ;;
esac
