# Helpers shared by the pipeline's job scripts (sourced, not run): `. ci/lib.sh`.
# POSIX sh. Nothing here prints a secret: callers keep credentials in variables and files,
# never on a command line that is echoed, and the scripts never use `set -x`.

# The script's name, for messages.
ci_name=${ci_name:-$(basename "$0" .sh)}

log() {
  printf '%s: %s\n' "$ci_name" "$*" >&2
}

die() {
  printf '%s: FAILED: %s\n' "$ci_name" "$*" >&2
  exit 1
}

# install_package PACKAGE: installs a system package with the image's package manager. Job
# images differ (Debian rust and node images, Alpine terraform image, Azure Linux azure-cli
# image); a developer's machine normally has everything already, so nothing is installed there.
install_package() {
  log "installing the system package $1"
  if command -v apk >/dev/null 2>&1; then
    apk add --no-cache "$1" >/dev/null
  elif command -v tdnf >/dev/null 2>&1; then
    tdnf install -y -q "$1" >/dev/null
  elif command -v apt-get >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "the Debian package $1 is missing; install it (apt-get install $1)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    die "$1 is missing and no known package manager is available to install it"
  fi
}

# need TOOL [PACKAGE]: makes sure TOOL is on PATH, installing PACKAGE (default: TOOL) if not.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  install_package "${2:-$1}"
  command -v "$1" >/dev/null 2>&1 || die "$1 is still missing after installing ${2:-$1}"
}

# require_var NAME...: fails unless every named variable is set and not empty. Prints names
# only, never values.
require_var() {
  for name in "$@"; do
    eval "value=\${$name:-}"
    # shellcheck disable=SC2154 # assigned by the eval above
    [ -n "$value" ] || die "the CI/CD variable $name is not set (see docs/Pipeline_Logic.md)"
  done
  value=
}

# check_env_name ENV: the environments that have envs/<env>.tfvars.
check_env_name() {
  case "$1" in
    dev | staging | prod) ;;
    *) die "unknown environment '$1' (expected dev, staging or prod)" ;;
  esac
}

# --- Azure sign-in ------------------------------------------------------------------------
# The pipeline's identity is an Entra app registration (or user-assigned managed identity)
# named by AZURE_CLIENT_ID in AZURE_TENANT_ID, working in AZURE_SUBSCRIPTION_ID. Preferred:
# GitLab OIDC, an `id_tokens` entry AZURE_ID_TOKEN (aud api://AzureADTokenExchange) traded
# for an Entra token through a federated credential; no secret is stored anywhere.
# Fallback: AZURE_CLIENT_SECRET, a masked and protected CI/CD variable.

# azure_method: prints `oidc` or `secret`, or fails when neither is available.
azure_method() {
  require_var AZURE_CLIENT_ID AZURE_TENANT_ID AZURE_SUBSCRIPTION_ID
  if [ -n "${AZURE_ID_TOKEN:-}" ]; then
    echo oidc
  elif [ -n "${AZURE_CLIENT_SECRET:-}" ]; then
    echo secret
  else
    die "no Azure credential: give the job an id_tokens entry AZURE_ID_TOKEN, or set AZURE_CLIENT_SECRET"
  fi
}

# azure_login: signs the Azure CLI in as the pipeline's identity. Output is discarded: it
# names subscriptions, not secrets, but there is no reason to print it.
azure_login() {
  method=$(azure_method) || exit 1
  log "signing in to Azure as client $AZURE_CLIENT_ID ($method)"
  if [ "$method" = oidc ]; then
    az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" \
      --federated-token "$AZURE_ID_TOKEN" --output none --only-show-errors ||
      die "az login with the GitLab OIDC token (check the federated credential's issuer, subject and audience)"
  else
    az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" \
      --password "$AZURE_CLIENT_SECRET" --output none --only-show-errors ||
      die "az login with AZURE_CLIENT_SECRET"
  fi
  az account set --subscription "$AZURE_SUBSCRIPTION_ID" --only-show-errors ||
    die "az account set (does the identity have a role on subscription $AZURE_SUBSCRIPTION_ID?)"
}

# terraform_azure_env: exports the azurerm provider's ARM_* variables for the same identity.
terraform_azure_env() {
  method=$(azure_method) || exit 1
  export ARM_CLIENT_ID="$AZURE_CLIENT_ID" ARM_TENANT_ID="$AZURE_TENANT_ID"
  export ARM_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID"
  if [ "$method" = oidc ]; then
    export ARM_USE_OIDC=true ARM_OIDC_TOKEN="$AZURE_ID_TOKEN"
  else
    export ARM_CLIENT_SECRET="$AZURE_CLIENT_SECRET"
  fi
}

# trainer_azure_env DIR: lets `fluxops-train --publish` reach Blob Storage as the same identity:
# workload identity (token written to DIR/azure-token, mode 600) with OIDC, else the Azure CLI
# sign-in made by azure_login.
trainer_azure_env() {
  method=$(azure_method) || exit 1
  if [ "$method" = oidc ]; then
    (umask 077 && printf '%s' "$AZURE_ID_TOKEN" >"$1/azure-token")
    export AZURE_FEDERATED_TOKEN_FILE="$1/azure-token" FLUXOPS_AZURE_AUTH=workload-identity
  else
    export FLUXOPS_AZURE_AUTH=developer
  fi
}

# --- Rust toolchain -----------------------------------------------------------------------
# The rust:1.95 image has the minimal rustup profile (no rustfmt or clippy); this adds what a
# job needs, and does nothing where it is already installed (a developer's machine, or a
# machine without network access to the Rust distribution server). The shipped binaries are
# built for the host's own x86_64-unknown-linux-gnu target (with zig as the linker), whose
# standard library every toolchain has.

# rust_component NAME: rustfmt, clippy, ...
rust_component() {
  rustup component list --installed 2>/dev/null | grep -q "^$1" && return 0
  log "adding the Rust component $1"
  rustup component add "$1" >/dev/null || die "rustup component add $1"
}

# --- One deadline for a whole script -------------------------------------------------------
# A job script that waits on Azure sets one deadline at its start; every attempt and every
# wait after that is cut to what remains, so the script ends by the deadline however its time
# is spent among its steps (ci/deploy.sh; docs/Pipeline_Logic.md, "deploy").

# deadline_start SECONDS: the deadline is SECONDS from now.
deadline_start() {
  deadline_seconds=$1
  deadline=$(($(date +%s) + $1))
}

# seconds_left: seconds until the deadline, 0 once it has passed.
seconds_left() {
  left=$((deadline - $(date +%s)))
  [ "$left" -gt 0 ] || left=0
  echo "$left"
}

# before_deadline LIMIT COMMAND [ARG...]: runs the external COMMAND, cut off (TERM, then KILL
# 10 s later) after LIMIT seconds or at the deadline, whichever comes first; 124 when cut off.
before_deadline() {
  limit=$1
  shift
  left=$(seconds_left)
  [ "$left" -gt 0 ] || return 124
  [ "$limit" -le "$left" ] || limit=$left
  timeout -k 10 "$limit" "$@"
}

# retry_until_deadline WHAT COMMAND [ARG...]: runs COMMAND (a shell function may be given: it
# should run its external commands through before_deadline) until it succeeds, waiting
# DEPLOY_RETRY_INTERVAL seconds (default 30, less when the deadline is nearer) between
# attempts, and fails at the deadline. Only for steps that are safe to repeat and that Azure
# refuses for a while after a change (role assignments propagate in minutes): never for a
# step that publishes something, and never for plain errors in our own input.
retry_until_deadline() {
  what=$1
  shift
  attempt=1
  while ! "$@"; do
    left=$(seconds_left)
    [ "$left" -gt 0 ] ||
      die "$what: still failing after $attempt attempts, and the script's ${deadline_seconds} s are up"
    wait_seconds=${DEPLOY_RETRY_INTERVAL:-30}
    [ "$wait_seconds" -le "$left" ] || wait_seconds=$left
    log "$what failed (attempt $attempt); retrying in $wait_seconds s, $left s left (new role assignments take minutes to apply)"
    sleep "$wait_seconds"
    attempt=$((attempt + 1))
  done
}
