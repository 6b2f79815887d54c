#!/usr/bin/env bash
# Benchmarks: `npm run bench` runs them all, `npm run bench -- check` one.
# They print their figures; docs/benchmarks.md records them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bash scripts/build.sh
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(check ingest scim token signals policy)
for name in "${names[@]}"; do
  log "bench/$name.ts"
  tsx "bench/$name.ts"
done
