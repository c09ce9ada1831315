#!/bin/sh
# Rust checks of the validate stage, the same commands `cargo xtask test` runs:
#   sh ci/rust-check.sh fmt      cargo fmt --check over the whole workspace
#   sh ci/rust-check.sh clippy   clippy on every target of every crate, warnings are errors
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

case "${1:-}" in
  fmt)
    rust_component rustfmt
    log "cargo fmt --all -- --check"
    cargo fmt --all -- --check || die "formatting (run \`cargo fmt -p <crate>\` on the crates listed above)"
    ;;
  clippy)
    rust_component clippy
    log "cargo clippy --workspace --all-targets --locked -- -D warnings"
    cargo clippy --workspace --all-targets --locked -- -D warnings || die "clippy"
    ;;
  *)
    die "usage: sh ci/rust-check.sh fmt|clippy"
    ;;
esac
log "ok"
