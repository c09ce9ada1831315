#!/bin/sh
# The test stage: every test of the workspace under cargo-nextest, with a JUnit report at
# target/nextest/ci/junit.xml (profile `ci` in ci/nextest.toml) for GitLab's test widget, then
# the doctests, which nextest does not run.
#
# The Blob tests talk to the Azurite named by FLUXOPS_TEST_AZURITE_BLOB (the job's Azurite
# service container); the managed-identity test starts its own HTTPS Azurite from .tools/node,
# so the Node tools of ci/tools.sh are installed first. Locally, without the variable, the Blob
# tests start their own Azurite too.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

sh ci/setup-tools.sh

# cargo-nextest at one pinned release, built from crates.io with `cargo install --locked`:
# Cargo checks the crate against the registry index's SHA-256 and every dependency against the
# checksums in nextest's own Cargo.lock, so no unverified download runs here. The pipeline
# caches the result (key: this file), so the build costs one job per version bump.
NEXTEST_VERSION=0.9.143
if [ "$(cargo nextest --version 2>/dev/null | sed -n 's/^cargo-nextest \([0-9.]*\).*/\1/p')" != "$NEXTEST_VERSION" ]; then
  log "installing cargo-nextest $NEXTEST_VERSION (cargo install --locked)"
  cargo install cargo-nextest --version "=$NEXTEST_VERSION" --locked --quiet ||
    die "cargo install cargo-nextest $NEXTEST_VERSION"
fi

# The Azurite service container (AZURITE_SERVICE=host:port, set by the job). GitLab names it
# by its alias, but the Blob client treats only IP addresses and localhost as Azurite-style
# (path-style) URLs, so the tests get its IPv4 address.
if [ -n "${AZURITE_SERVICE:-}" ]; then
  host=${AZURITE_SERVICE%:*}
  port=${AZURITE_SERVICE##*:}
  address=$(getent ahostsv4 "$host" | awk '{ print $1; exit }')
  [ -n "$address" ] || die "cannot resolve the Azurite service $host"
  export FLUXOPS_TEST_AZURITE_BLOB="http://$address:$port"
  need curl
  tries=0
  # Any HTTP answer means it listens (an anonymous request gets 403).
  until curl --silent --output /dev/null --max-time 2 "$FLUXOPS_TEST_AZURITE_BLOB/devstoreaccount1?comp=list"; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || die "the Azurite service at $FLUXOPS_TEST_AZURITE_BLOB does not answer"
    sleep 1
  done
  log "Azurite service at $FLUXOPS_TEST_AZURITE_BLOB"
fi

log "cargo nextest run --workspace --locked --profile ci"
cargo nextest run --workspace --locked --config-file ci/nextest.toml --profile ci ||
  die "tests (the JUnit report is target/nextest/ci/junit.xml)"
log "cargo test --doc --workspace --locked"
cargo test --doc --workspace --locked || die "doctests"
