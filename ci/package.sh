#!/bin/sh
# The build stage's Functions package: exactly the local package command,
#   cargo xtask package
# which checks host.json and every function.json against ci/schemas/, builds the release
# `handler` with `cargo zigbuild --locked` against glibc 2.28, refuses it if it needs a newer
# glibc, and writes dist/fluxops-functions.zip. Then the zipped binary itself is started and
# must answer (ci/smoke-package.sh) before the job uploads the zip. Prints the zip's layout.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

log "cargo xtask package"
cargo xtask package || die "cargo xtask package"
zip=dist/fluxops-functions.zip
[ -f "$zip" ] || die "cargo xtask package did not write $zip"
sh ci/smoke-package.sh "$zip"
log "$zip: $(wc -c <"$zip" | tr -d ' ') bytes; layout:"
sh ci/zip-layout.sh "$zip"
