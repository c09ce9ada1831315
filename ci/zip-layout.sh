#!/bin/sh
# Prints the layout of a zip archive, one `<mode> <name>` line per entry, sorted: what must be
# identical between the pipeline's package and the local `cargo xtask package` (the handler's
# executable bit included; sizes and dates are left out, they differ between builds).
#   sh ci/zip-layout.sh dist/fluxops-functions.zip
set -eu
# shellcheck disable=SC2034 # read by lib.sh
ci_name=zip-layout
# shellcheck disable=SC1091
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] && [ -f "$1" ] || die "usage: sh ci/zip-layout.sh FILE.zip"
need unzip
# zipinfo lines: mode, version, os, size, type, method, date, time, name.
unzip -Z "$1" | awk 'NF >= 9 && $1 ~ /^[-dl]/ { print $1, $NF }' | LC_ALL=C sort
