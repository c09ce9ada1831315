#!/bin/sh
# Installs the non-Rust tools into .tools/ (idempotent, no root needed), in three sets:
#   build   .tools/venv: zig and cargo-zigbuild (ci/requirements-build.txt, pip --require-hashes),
#           all that `cargo xtask package` needs to link the shipped binaries
#   python  the build set, then the test command's Python tools (ci/requirements.txt: Terraform
#           fmt, checkov, HCL parser, schema checks, ONNX and protocol peers, ...)
#   all     both of those, then the Node tools of ci/package.json into .tools/node (Azurite,
#           gitlab-ci-local)
# A stamp file per set skips the install when its pinned list has not changed.
#   sh ci/tools.sh [build | python]      default: all
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"
sets=${1:-all}
case "$sets" in
  all | python | build) ;;
  *) echo "usage: sh ci/tools.sh [build | python]" >&2; exit 2 ;;
esac

# install_python_set LIST STAMP [PIP_OPTION...]: pip-installs LIST into .tools/venv unless STAMP
# already holds the same list.
install_python_set() {
  list=$1 stamp=$2
  shift 2
  cmp -s "$list" "$stamp" 2>/dev/null && return 0
  echo "tools: installing $(basename "$list") into .tools/venv"
  [ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$@" -r "$list"
  cp "$list" "$stamp"
}

# Hash-checking mode: every wheel must match a hash of the list, or nothing is installed.
install_python_set "$root/ci/requirements-build.txt" "$tools/venv/.installed-build" \
  --require-hashes --only-binary :all:
[ "$sets" != build ] || exit 0
install_python_set "$root/ci/requirements.txt" "$tools/venv/.installed"

[ "$sets" = all ] || exit 0
if ! cmp -s "$root/ci/package.json" "$tools/node/.installed" 2>/dev/null; then
  echo "tools: installing Node tools into .tools/node"
  mkdir -p "$tools/node"
  cp "$root/ci/package.json" "$tools/node/package.json"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund --omit=dev)
  cp "$root/ci/package.json" "$tools/node/.installed"
fi
