#!/bin/sh
# Validate stage: host.json and the function.json source (the bindings the package step lays
# out per function) against the Azure Functions schemas in ci/schemas/, the files
# `cargo xtask package` checks its output against, with check-jsonschema from ci/tools.sh.
# Seconds, offline, no Rust build: the quick signal before build:package.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh

sh ci/setup-tools.sh
checker=.tools/venv/bin/check-jsonschema
for file in host.json function.json ci/schemas/host.json ci/schemas/function.json; do
  [ -f "$file" ] || die "$file is missing"
done
log "host.json against ci/schemas/host.json"
"$checker" --schemafile ci/schemas/host.json host.json || die "host.json"
log "function.json against ci/schemas/function.json (read as draft-07, see ci/schemas/README.md)"
"$checker" --validator-class jsonschema.validators:Draft7Validator \
  --schemafile ci/schemas/function.json function.json || die "function.json"
log "ok"
