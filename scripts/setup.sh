#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: npm dependencies, the OPA CLI,
# nats-server and local-kms (built from the Go module proxy into .tools/bin), and the
# TypeScript types generated from proto/. Each step is skipped when its
# output is already present and current.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is required (found $(node --version))"

# The OPA CLI compiles tenant Rego to Wasm; pinned so compiled bundles are reproducible.
if ! "$TOOLS_BIN/opa" version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
  go_install opa "github.com/open-policy-agent/opa@$OPA_VERSION"
fi

# nats-server with JetStream, for the demo and the tests.
if ! "$TOOLS_BIN/nats-server" --version 2>/dev/null | grep -q "$NATS_SERVER_VERSION"; then
  go_install nats-server "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
fi

# local-kms, the KMS-compatible server the customer-managed-key tests wrap and unwrap data keys with.
if ! go_built_from "$TOOLS_BIN/local-kms" github.com/nsmithuk/local-kms "$LOCAL_KMS_VERSION"; then
  go_install local-kms "github.com/nsmithuk/local-kms@$LOCAL_KMS_VERSION"
fi

# A Python venv with scim2-tester, the third-party SCIM compliance checker the tests run.
if ! "$VENV/bin/python" -c 'import scim2_tester, httpx2' 2>/dev/null \
  || [ "$(cat "$VENV/.packages" 2>/dev/null)" != "$SCIM2_TESTER_PACKAGES" ]; then
  command -v python3 >/dev/null || die "Python 3 is required for the SCIM conformance checker (scim2-tester)"
  log "installing scim2-tester into .tools/venv"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # a list of pinned requirements
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $SCIM2_TESTER_PACKAGES
  printf '%s' "$SCIM2_TESTER_PACKAGES" > "$VENV/.packages"
fi

# SimpleSAMLphp (Debian's package) and PHP: the real SAML IdP the SAML end-to-end tests run with `php -S`.
# Installed with apt-get when missing and this runs as root; otherwise say what to install.
if [ ! -f /usr/share/simplesamlphp/www/saml2/idp/SSOService.php ] || ! php -m 2>/dev/null | grep -qx dom; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing SimpleSAMLphp and PHP (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      simplesamlphp php-cli php-xml php-mbstring >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        simplesamlphp php-cli php-xml php-mbstring >/dev/null; } \
      || die "could not install simplesamlphp php-cli php-xml php-mbstring"
  else
    log "SimpleSAMLphp is missing: install simplesamlphp php-cli php-xml php-mbstring (Debian) for the SAML tests"
  fi
fi

# npm dependencies. better-sqlite3 may build from source; node-gyp cannot
# download Node's headers here, so point it at the local Node install.
stamp="node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node.h" ]; then
    export npm_config_nodedir="$node_prefix"
  fi
  log "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch "$stamp"
fi

# TypeScript types for the gRPC wire messages (git-ignored; only src/check imports them).
gen="src/check/gen"
if [ ! -f "$gen/.stamp" ] || [ -n "$(find proto -newer "$gen/.stamp" -name '*.proto' -print -quit)" ]; then
  log "generating TypeScript types from proto/"
  rm -rf "$gen"
  mkdir -p "$gen"
  proto-loader-gen-types ipsie/sidecar/v1/authz.proto \
    --grpcLib=@grpc/grpc-js --outDir="$gen" --importFileExtension=.js \
    --keepCase --longs=String --enums=String --defaults --oneofs --includeDirs=proto >/dev/null
  touch "$gen/.stamp"
fi
