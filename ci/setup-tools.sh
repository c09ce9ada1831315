#!/bin/sh
# Installs the test command's Python and Node tools into .tools/ (ci/tools.sh), after making
# sure what ci/tools.sh itself needs is there: python3 with venv, node and npm. Job images
# lack some of these (rust:1.95 has no Node, node:20 no python3-venv); a developer's machine
# and CI's machine have them, so this adds nothing there.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

need python3
python3 -c 'import ensurepip, venv' 2>/dev/null || install_package python3-venv
need node nodejs
need npm
sh ci/tools.sh
