#!/bin/sh
# Installs a tool set into .tools/ (ci/tools.sh), after making sure what ci/tools.sh itself
# needs is there: python3 with venv, and node and npm for the full set. Job images lack some of
# these (rust:1.95 has no Node, node:20 no python3-venv); a developer's machine and CI's machine
# have them, so this adds nothing there.
#   sh ci/setup-tools.sh          every tool the test command uses (Python and Node)
#   sh ci/setup-tools.sh python   the Python tools only
#   sh ci/setup-tools.sh build    the build tool set only: zig and cargo-zigbuild, hash-checked
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

need python3
python3 -c 'import ensurepip, venv' 2>/dev/null || install_package python3-venv
if [ -z "${1:-}" ]; then
  need node nodejs
  need npm
fi
sh ci/tools.sh "$@"
