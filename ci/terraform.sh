#!/bin/sh
# Terraform steps of the pipeline, run from the repository root in the Terraform image:
#   sh ci/terraform.sh validate                 fmt -check, init (lock file read-only), validate
#   sh ci/terraform.sh plan ENV [--read-only]   plan.tfplan + plan.json (GitLab's plan summary)
#   sh ci/terraform.sh apply ENV                apply plan.tfplan, check a second plan is empty,
#                                               then deploy.env (outputs, dotenv)
#   sh ci/terraform.sh destroy ENV              destroy everything of ENV (never prod)
# ENV is dev, staging or prod (infra/terraform/envs/ENV.tfvars), written into each job's
# script, never read from a variable. State lives in GitLab (`backend "http" {}`), one state
# per environment, reached with the job's CI_JOB_TOKEN. Provider releases and checksums come
# from the committed infra/terraform/.terraform.lock.hcl; no step may change it.
# --read-only plans as the read-only plan identity (AZURE_PLAN_CLIENT_ID), for merge requests.
# The binary is $TF_BIN (default terraform; `tofu` works the same way).
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

tf=${TF_BIN:-terraform}
dir=infra/terraform
lock=.terraform.lock.hcl
# Every platform a developer or runner may init on; `providers lock` records each one's hash.
lock_platforms="-platform=linux_amd64 -platform=linux_arm64 -platform=darwin_amd64 -platform=darwin_arm64 -platform=windows_amd64"
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

# init ENV: the environment's state, providers exactly as the lock file pins them.
init() {
  [ -f "$dir/$lock" ] || die "$dir/$lock is missing: the terraform:validate job writes it; commit it (docs/Pipeline_Logic.md, \"Providers\")"
  backend_env "$1"
  terraform_azure_env
  log "$tf init -lockfile=readonly (state: $1)"
  "$tf" -chdir="$dir" init -input=false -reconfigure -lockfile=readonly >/dev/null || die "$tf init"
}

# plan_to FILE ENV [OPTIONS]: a plan of ENV's tfvars into FILE.
plan_to() {
  file=$1 env=$2
  shift 2
  "$tf" -chdir="$dir" plan -input=false -lock=false -var-file="envs/$env.tfvars" -out="$file" "$@"
}

# write_missing_lock DIR: with no lock file yet (the first pipeline of the project), writes one
# for every platform and says so; the caller then fails, so that the file is reviewed and
# committed rather than chosen anew by every job.
write_missing_lock() {
  [ ! -f "$1/$lock" ] || return 1
  log "$1/$lock is missing: writing it ($tf init -backend=false; $tf providers lock)"
  "$tf" -chdir="$1" init -input=false -backend=false >/dev/null || die "$tf init -backend=false in $1"
  # shellcheck disable=SC2086 # one word per platform
  "$tf" -chdir="$1" providers lock $lock_platforms >/dev/null || die "$tf providers lock in $1"
}

# validate_root DIR: init without a backend against the committed lock file, then validate.
validate_root() {
  log "$tf init -backend=false -lockfile=readonly; $tf validate ($1)"
  "$tf" -chdir="$1" init -input=false -backend=false -lockfile=readonly >/dev/null ||
    die "$tf init -backend=false -lockfile=readonly in $1 (does $lock cover every provider in versions.tf?)"
  "$tf" -chdir="$1" validate || die "$tf validate in $1"
}

command=${1:-}
env=${2:-}
case "$command" in
  validate)
    log "$tf fmt -check -recursive -diff infra"
    "$tf" fmt -check -recursive -diff infra || die "$tf fmt (run it without -check to fix)"
    written=
    for root in "$dir" infra/bootstrap; do
      if write_missing_lock "$root"; then written="$written $root/$lock"; fi
    done
    [ -z "$written" ] || die "commit$written (this job's artifacts) and run the pipeline again"
    for root in "$dir" infra/bootstrap; do
      validate_root "$root"
    done
    ;;
  plan)
    check_env_name "$env"
    case "${3:-}" in
      "") ;;
      --read-only)
        # The read-only identity (Reader), for pipelines that may not act as the environment.
        require_var AZURE_PLAN_CLIENT_ID
        AZURE_CLIENT_ID=$AZURE_PLAN_CLIENT_ID
        ;;
      *) die "usage: sh ci/terraform.sh plan ENV [--read-only]" ;;
    esac
    need jq
    init "$env"
    log "$tf plan -var-file=envs/$env.tfvars -out=plan.tfplan"
    plan_to plan.tfplan "$env" || die "$tf plan"
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
    # A second plan right after the apply must be empty: a setting that never reads back
    # (like `AzureWebJobsStorage = ""` on Flex Consumption once did) would otherwise show as
    # a change in every plan and restart the app at every apply.
    log "$tf plan -detailed-exitcode (a second plan must find nothing to do)"
    status=0
    plan_to second.tfplan "$env" -detailed-exitcode >/dev/null || status=$?
    case "$status" in
      0) log "second plan: no changes" ;;
      2)
        "$tf" -chdir="$dir" show -json second.tfplan | jq -r -f ci/plan-noise.jq >&2 || true
        die "the second plan is not empty: the settings above never read back as applied (see docs/IaC_Design.md, \"A second plan is empty\")"
        ;;
      *) die "$tf plan after apply" ;;
    esac
    ;;
  destroy)
    check_env_name "$env"
    # Production is torn down by a person with Azure rights, never by a job (docs/Pipeline_Logic.md).
    [ "$env" != prod ] || die "refusing to destroy prod from the pipeline"
    init "$env"
    log "$tf destroy -var-file=envs/$env.tfvars"
    "$tf" -chdir="$dir" destroy -input=false -auto-approve -lock=true -var-file="envs/$env.tfvars" ||
      die "$tf destroy"
    ;;
  *)
    die "usage: sh ci/terraform.sh validate | plan ENV [--read-only] | apply ENV | destroy ENV"
    ;;
esac
