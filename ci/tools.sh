#!/bin/sh
# Installs the test command's non-Rust tools into .tools/ (idempotent, no root needed):
#   .tools/venv   Python tools from ci/requirements.txt (Terraform fmt, checkov, HCL parser,
#                 schema checks, zig and cargo-zigbuild for the shipped handler, ...)
#   .tools/node   Node tools from ci/package.json (Azurite, gitlab-ci-local)
# A stamp file per tool set skips the install when its pinned list has not changed.
#   sh ci/tools.sh          both sets
#   sh ci/tools.sh python   the Python set only (the build jobs need no Node)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"
sets=${1:-all}
case "$sets" in
  all | python) ;;
  *) echo "usage: sh ci/tools.sh [python]" >&2; exit 2 ;;
esac

if ! cmp -s "$root/ci/requirements.txt" "$tools/venv/.installed" 2>/dev/null; then
  echo "tools: installing Python tools into .tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/ci/requirements.txt"
  cp "$root/ci/requirements.txt" "$tools/venv/.installed"
fi

[ "$sets" = all ] || exit 0
if ! cmp -s "$root/ci/package.json" "$tools/node/.installed" 2>/dev/null; then
  echo "tools: installing Node tools into .tools/node"
  mkdir -p "$tools/node"
  cp "$root/ci/package.json" "$tools/node/package.json"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund --omit=dev)
  cp "$root/ci/package.json" "$tools/node/.installed"
fi
