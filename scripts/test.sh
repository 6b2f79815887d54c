#!/usr/bin/env bash
# The test command (README, .ci/run): set up whatever is missing, then
# type-check, lint, test the Rego with `opa test`, and run the vitest suites
# against real opa, SQLite, gRPC and nats-server.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh

log "type-check"
tsc -p tsconfig.dev.json
# The client SDK builds on its own, declarations included, as it is published (sdk/package.json).
rm -rf sdk/dist
tsc -p sdk/tsconfig.json

log "lint"
npm run --silent lint

log "Rego: format, strict check, opa test"
opa fmt --list --fail policies/
opa check --strict policies/
opa test policies/

log "vitest"
vitest run "$@"
