#!/usr/bin/env bash
# Compiles src/ to dist/ and sdk/src/ to sdk/dist/ (after set-up, which also generates the proto types).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
rm -rf dist sdk/dist
tsc -p tsconfig.json
# The client SDK (@ipsie/sidecar-client), which the example app in examples/ uses.
tsc -p sdk/tsconfig.json
