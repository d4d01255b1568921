#!/usr/bin/env bash
# Run forge on contracts/ offline, with solcjs behind scripts/solc-wrapper.js
# (there is no native solc in any registry we can reach). Usage:
#   scripts/forge.sh build | test [forge args...] | <any forge subcommand>
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORGE="${COPROC_FORGE:-$ROOT/tools/npm/node_modules/@foundry-rs/forge-linux-amd64/bin/forge}"
if [ ! -x "$FORGE" ]; then
  echo "forge.sh: forge not found at $FORGE: run scripts/setup.sh" >&2
  exit 2
fi
cd "$ROOT/contracts"
exec "$FORGE" "$@"
