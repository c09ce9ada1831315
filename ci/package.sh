#!/bin/sh
# The build stage's Functions package: exactly the local package command,
#   cargo xtask package [--target $BUILD_TARGET]
# which builds the release `handler`, checks host.json and every function.json against
# ci/schemas/, and writes dist/fluxops-functions.zip. The pipeline sets
# BUILD_TARGET=x86_64-unknown-linux-musl (a static binary: the Functions image's glibc is
# not documented); unset, the host's target is used, as on a developer's machine.
# Prints the zip's layout (mode and name of every entry) at the end.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

target=${BUILD_TARGET:-}
if [ -n "$target" ]; then
  rust_target "$target"
  log "cargo xtask package --target $target"
  cargo xtask package --target "$target" || die "cargo xtask package --target $target"
else
  log "cargo xtask package"
  cargo xtask package || die "cargo xtask package"
fi

zip=dist/fluxops-functions.zip
[ -f "$zip" ] || die "cargo xtask package did not write $zip"
log "$zip: $(wc -c <"$zip" | tr -d ' ') bytes; layout:"
sh ci/zip-layout.sh "$zip"
