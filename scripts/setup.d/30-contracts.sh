#!/usr/bin/env bash
# Setup stage: compile contracts/ (forge + solcjs, offline) when its sources changed.
# Fast no-op otherwise: the stamp is a hash of every input of the build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -f contracts/foundry.toml ] || exit 0
stamp="contracts/out/.coproc-stamp"
dirs=()
for d in contracts/src contracts/test contracts/script; do [ -d "$d" ] && dirs+=("$d"); done
hash="$( { find "${dirs[@]}" -type f -name '*.sol' -print0 | sort -z | xargs -0 -r sha256sum
           sha256sum contracts/foundry.toml scripts/solc-wrapper.js tools/npm/package-lock.json
         } | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  exit 0
fi
printf '[setup] building contracts (forge, solcjs)\n' >&2
bash scripts/forge.sh build >/dev/null
echo "$hash" > "$stamp"
