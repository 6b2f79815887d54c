#!/usr/bin/env bash
# The demo command (README): set up, build, then run the scripted flow
# against a real `ipsie-sidecar sidecar` process.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bash scripts/build.sh
exec tsx demo/run.ts
