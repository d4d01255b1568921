#!/usr/bin/env bash
# Setup stage: build the zkVM guest (riscv32im-risc0-zkvm-elf) and the host CLI
# `coproc-host` (local prover included), and install it as .venv/bin/coproc-host, where
# coprocessor/zk/prover.py finds it. A no-op (one hash of the sources) when nothing changed.
# Cargo target dirs live under $COPROC_CACHE (default ~/.cache/coproc), outside the clone,
# so a fresh clone on the same machine rebuilds incrementally.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -f guest/Cargo.toml ] || exit 0
log() { printf '[setup:guest] %s\n' "$*" >&2; }

dest="$ROOT/.venv/bin/coproc-host"
stamp="$ROOT/.venv/.coproc-guest-stamp"
sources_hash="$(
  {
    find guest -path guest/target -prune -o -type f \( -name '*.rs' -o -name '*.toml' -o -name 'Cargo.lock' \) -print0 \
      | sort -z | xargs -0 sha256sum
    sha256sum spec/sigmoid_q16.json scripts/rust.sh
    /usr/bin/rustc --version 2>/dev/null || echo "no rustc"
  } | sha256sum | cut -c1-32
)"
if [ -x "$dest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources_hash" ]; then
  exit 0
fi
log "building the zkVM guest and coproc-host (first build on a machine: ~30-40 min, then incremental)"
start=$(date +%s)
bin="$(bash scripts/rust.sh build | tail -n 1)"
install -m 0755 "$bin" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "$sources_hash" > "$stamp"
log "coproc-host installed ($(( $(date +%s) - start )) s); image id $("$dest" image-id | sed -n 's/.*"image_id": "\(0x[0-9a-f]*\)".*/\1/p')"
