# Shared by the project's scripts: pinned tool versions and where they live.
# Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TOOLS_BIN="$TOOLS/bin"
OPA_VERSION="v1.17.0"
NATS_SERVER_VERSION="v2.11.9"
# A KMS-compatible server (AWS KMS API) for the customer-managed-key tests (docs/keys.md); a pseudo-version: the
# module has no tags.
LOCAL_KMS_VERSION="v0.0.0-20260228092603-2a5e92d09ab6"
# Go load generators for bench/side_by_side.ts (gRPC and HTTP), installed by scripts/bench.sh.
GHZ_VERSION="v0.121.0"
HEY_VERSION="v0.1.5"
# scim2-tester (PyPI) checks the SCIM gateway in the tests; pinned with what it runs on.
SCIM2_TESTER_PACKAGES="scim2-tester==0.5.2 scim2-client==0.13.2 scim2-models==0.12.3 httpx2==2.16.2"
VENV="$TOOLS/venv"
export PATH="$TOOLS_BIN:$ROOT/node_modules/.bin:$PATH"

log() { printf '[ipsie-sidecar] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

go_install() { # <binary> <module@version>
  command -v go >/dev/null || die "Go is required to build $1 ($2); install Go >= 1.24"
  log "building $1 from $2 (first run only, ~2 min)"
  mkdir -p "$TOOLS_BIN" "$TOOLS/go"
  # Keep Go's module and build caches under .tools/ so nothing lands outside the checkout.
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-modcacherw \
    GOPATH="$TOOLS/go" GOCACHE="$TOOLS/go/cache" GOBIN="$TOOLS_BIN" \
    go install "$2"
}

# Whether the Go binary at <path> was built from <module> at <version> (read from its build info).
go_built_from() { # <path> <module> <version>
  [ -x "$1" ] && go version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}
