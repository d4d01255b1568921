#!/usr/bin/env bash
# Setup stage: build the native verifier (native/, a PyO3 extension over guest/core) and
# install it into the venv as coproc_native.abi3.so, where coprocessor/chain/native.py imports
# it. A no-op (one hash of the sources) when nothing changed. Plain cargo (Debian's
# /usr/bin/cargo, installed by setup.sh), target dir outside the clone under
# $COPROC_CACHE (default ~/.cache/coproc), so a fresh clone rebuilds in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -f native/Cargo.toml ] || exit 0
log() { printf '[setup:native] %s\n' "$*" >&2; }

PY="$ROOT/.venv/bin/python"
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
dest="$site/coproc_native.abi3.so"
stamp="$ROOT/.venv/.coproc-native-stamp"
sources_hash="$(
  {
    find native guest/core -path '*/target' -prune -o -type f \( -name '*.rs' -o -name '*.toml' -o -name 'Cargo.lock' \) -print0 \
      | sort -z | xargs -0 sha256sum
    sha256sum guest/Cargo.toml spec/sigmoid_q16.json scripts/setup.d/25-native.sh
    /usr/bin/rustc --version 2>/dev/null || echo "no rustc"
    "$PY" --version
  } | sha256sum | cut -c1-32
)"
if [ -f "$dest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources_hash" ]; then
  exit 0
fi
log "building the native verifier (coproc_native)"
start=$(date +%s)
CACHE="${COPROC_CACHE:-$HOME/.cache/coproc}"
target="$CACHE/native-target"
(
  cd native
  RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc PYO3_PYTHON="$PY" CARGO_TARGET_DIR="$target" \
    /usr/bin/cargo build --locked --release --quiet
)
install -m 0755 "$target/release/libcoproc_native.so" "$dest.tmp"
mv "$dest.tmp" "$dest"
"$PY" -c 'import coproc_native' || { rm -f "$dest"; echo "native: the built module does not import" >&2; exit 1; }
echo "$sources_hash" > "$stamp"
log "coproc_native installed ($(( $(date +%s) - start )) s)"
