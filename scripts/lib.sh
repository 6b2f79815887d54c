# Shared by the project's scripts: pinned tool versions and where they live.
# Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TOOLS_BIN="$TOOLS/bin"
OPA_VERSION="v1.17.0"
NATS_SERVER_VERSION="v2.11.9"
export PATH="$TOOLS_BIN:$ROOT/node_modules/.bin:$PATH"

log() { printf '[ipsie-sidecar] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
