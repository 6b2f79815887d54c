#!/usr/bin/env bash
# Compiles src/ to dist/ (after set-up, which also generates the proto types).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
rm -rf dist
tsc -p tsconfig.json
