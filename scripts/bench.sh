#!/usr/bin/env bash
# Benchmarks: `npm run bench` runs them all, `npm run bench -- check` one.
# They print their figures; docs/benchmarks.md records them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bash scripts/build.sh
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(check ingest scim token txn_tokens signals policy resources tenant_keys side_by_side)
for name in "${names[@]}"; do
  name="${name//-/_}"
  if [ "$name" = side_by_side ]; then
    # Go load generators, so that the client is not the bottleneck (bench/side_by_side.ts).
    # Installed here rather than by setup.sh: only this benchmark needs them.
    go_built_from "$TOOLS_BIN/ghz" github.com/bojand/ghz "$GHZ_VERSION" \
      || go_install ghz "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
    go_built_from "$TOOLS_BIN/hey" github.com/rakyll/hey "$HEY_VERSION" \
      || go_install hey "github.com/rakyll/hey@$HEY_VERSION"
  fi
  log "bench/$name.ts"
  tsx "bench/$name.ts"
done
