#!/bin/sh
# The build stage's trainer: `cargo xtask package-trainer`, a --locked release build of
# `fluxops-train` for the same target and glibc floor as the shipped handler, copied to
# dist/fluxops-train for the deploy job (which runs it in the Azure CLI image).
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

log "cargo xtask package-trainer"
cargo xtask package-trainer || die "building fluxops-train"
dist/fluxops-train --version >/dev/null || die "dist/fluxops-train does not run"
log "dist/fluxops-train: $(wc -c <dist/fluxops-train | tr -d ' ') bytes"
