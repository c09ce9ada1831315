#!/bin/sh
# The build stage's trainer: `fluxops-train` in release mode for $BUILD_TARGET (the pipeline
# sets x86_64-unknown-linux-musl, a static binary that runs in any job image; unset, the
# host's target), copied to dist/fluxops-train for the deploy job.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

target=${BUILD_TARGET:-}
[ -z "$target" ] || rust_target "$target"
log "cargo build --release --locked -p fluxops-trainer${target:+ --target $target}"
cargo build --release --locked -p fluxops-trainer ${target:+--target "$target"} ||
  die "building fluxops-trainer"

built="${CARGO_TARGET_DIR:-target}/${target:+$target/}release/fluxops-train"
mkdir -p dist
cp "$built" dist/fluxops-train
chmod 0755 dist/fluxops-train
dist/fluxops-train --version >/dev/null || die "dist/fluxops-train does not run"
log "dist/fluxops-train: $(wc -c <dist/fluxops-train | tr -d ' ') bytes"
