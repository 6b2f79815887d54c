# Shared by the project's scripts: pinned tool versions and where they live.
# Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TOOLS_BIN="$TOOLS/bin"
OPA_VERSION="v1.17.0"
NATS_SERVER_VERSION="v2.11.9"
# scim2-tester (PyPI) checks the SCIM gateway in the tests; pinned with what it runs on.
SCIM2_TESTER_PACKAGES="scim2-tester==0.5.2 scim2-client==0.13.2 scim2-models==0.12.3 httpx2==2.16.2"
VENV="$TOOLS/venv"
export PATH="$TOOLS_BIN:$ROOT/node_modules/.bin:$PATH"

log() { printf '[ipsie-sidecar] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
