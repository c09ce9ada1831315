#!/bin/sh
# Installs the test command's Python and Node tools into .tools/ (ci/tools.sh), after making
# sure what ci/tools.sh itself needs is there: python3 with venv, and node and npm unless only
# the Python tools are asked for. Job images lack some of these (rust:1.95 has no Node, node:20
# no python3-venv); a developer's machine and CI's machine have them, so this adds nothing there.
#   sh ci/setup-tools.sh          Python and Node tools
#   sh ci/setup-tools.sh python   the Python tools only (zig and cargo-zigbuild for the builds)
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

need python3
python3 -c 'import ensurepip, venv' 2>/dev/null || install_package python3-venv
if [ "${1:-}" != python ]; then
  need node nodejs
  need npm
fi
sh ci/tools.sh "$@"
