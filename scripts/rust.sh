#!/usr/bin/env bash
# Build and test the Rust side (guest/): the zkVM program, the host CLI, the core tests.
#
#   bash scripts/rust.sh build      guest ELF (riscv32im-risc0-zkvm-elf) + coproc-host (prove)
#   bash scripts/rust.sh guest      guest ELF only; prints its path
#   bash scripts/rust.sh test       cargo test of the host-side workspace (core + host)
#   bash scripts/rust.sh image-id   regenerate spec/image_id.json + contracts/src/generated/ImageID.sol
#   bash scripts/rust.sh prove-check  one real local proof + verification (slow: ~30+ min)
#   bash scripts/rust.sh prove-batch-check  a real 16-subject batch proof + verification (~2 h)
#   bash scripts/rust.sh env        print the environment used (for debugging)
#   bash scripts/rust.sh proto-accumulator ARGS  the history accumulator prototype (proto/accumulator/run.sh)
#
# Toolchain: Debian's rustc/cargo 1.96 (/usr/bin), never rustup's (first in PATH).
# Target dirs live outside the clone, under $COPROC_CACHE (default ~/.cache/coproc).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${COPROC_CACHE:-$HOME/.cache/coproc}"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
CARGO=/usr/bin/cargo
HOST_TARGET="$CACHE/host-target"
GUEST_TARGET="${COPROC_GUEST_TARGET:-$CACHE/guest-target}"
GUEST_TRIPLE=riscv32im-risc0-zkvm-elf
GUEST_ELF="$GUEST_TARGET/$GUEST_TRIPLE/release/risk_score"
# DOCS_RS is also set in guest/.cargo/config.toml [env]; exported here as well so that a
# cargo run from another directory still skips the recursion-program download.
export DOCS_RS=1
# Frozen lock files: CI must build exactly what was committed.
LOCKED="--locked"

build_guest() {
  # The guest is built from a copy of its sources at a fixed path ($CACHE/guest-src):
  # cargo hashes a path dependency's location into symbol names, and those change the
  # code layout, so building in place would give each clone location its own image ID.
  # (trim-paths also keeps the paths out of panic messages.) A lock serialises clones.
  local src="$CACHE/guest-src"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/guest-src.lock"
  flock 9
  rm -rf "$src.new"
  mkdir -p "$src.new/guest" "$src.new/spec"
  cp -a "$ROOT/guest/core" "$ROOT/guest/program" "$src.new/guest/"
  cp -a "$ROOT/spec/sigmoid_q16.json" "$ROOT/spec/rule_codes.json" "$src.new/spec/"
  # core inherits package fields and lints from the workspace root; the copy's root
  # lists core only (the host is not part of the guest build).
  sed 's/^members = .*/members = ["core"]/' "$ROOT/guest/Cargo.toml" > "$src.new/guest/Cargo.toml"
  touch -r "$ROOT/guest/Cargo.toml" "$src.new/guest/Cargo.toml"
  rm -rf "$src.new/guest/core/tests" "$src.new/guest/core/target" "$src.new/guest/program/target"
  if ! diff -rq "$src.new" "$src" >/dev/null 2>&1; then
    rm -rf "$src"
    mv "$src.new" "$src"
  else
    rm -rf "$src.new"
  fi
  # The rustflags risc0-build would pass; plain cargo with -Zbuild-std instead of rzup.
  (
    cd "$src/guest/program"
    export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$GUEST_TARGET"
    export CARGO_TARGET_RISCV32IM_RISC0_ZKVM_ELF_RUSTFLAGS='-C passes=lower-atomic -C link-arg=-Ttext=0x00200800 -C link-arg=--fatal-warnings -C panic=abort --cfg getrandom_backend="custom"'
    $CARGO build $LOCKED --release --target "$GUEST_TRIPLE" \
      -Zbuild-std=std,panic_abort -Zbuild-std-features=compiler-builtins-mem -Ztrim-paths \
      --quiet
  )
  [ -f "$GUEST_ELF" ] || { echo "rust.sh: guest ELF missing after build: $GUEST_ELF" >&2; exit 1; }
  flock -u 9
}

build_host() {
  (
    cd "$ROOT/guest"
    COPROC_GUEST_ELF="$GUEST_ELF" CARGO_TARGET_DIR="$HOST_TARGET" \
      $CARGO build $LOCKED --release -p coproc-host --quiet
  )
}

case "${1:-}" in
  build)
    build_guest
    build_host
    echo "$HOST_TARGET/release/coproc-host"
    ;;
  guest)
    build_guest
    echo "$GUEST_ELF"
    ;;
  host-bin)
    echo "$HOST_TARGET/release/coproc-host"
    ;;
  test)
    # Same profile and env as the build, so the prover crates compiled for `build` are reused.
    build_guest
    cd "$ROOT/guest"
    COPROC_GUEST_ELF="$GUEST_ELF" CARGO_TARGET_DIR="$HOST_TARGET" \
      $CARGO test $LOCKED --release --workspace --quiet
    ;;
  image-id)
    build_guest
    build_host
    "$HOST_TARGET/release/coproc-host" image-id \
      --write-json "$ROOT/spec/image_id.json" \
      --write-sol "$ROOT/contracts/src/generated/ImageID.sol"
    ;;
  prove-check)
    # One real (non-dev) local proof of a small request (mainnet WETH balance, 1 account
    # + 1 slot), then verification. Too slow for CI on 2 cores (see docs/guest.md).
    tmp="$(mktemp -d)"
    (cd "$ROOT" && .venv/bin/python -c "
import json, sys
from bench.guest_cycles import mainnet_weth, model
b, s = mainnet_weth()
for k, v in (('bundle', b), ('spec', s), ('model', model(1, 0))):
    open(sys.argv[1] + '/' + k + '.json', 'w').write(json.dumps(v))
" "$tmp")
    start=$(date +%s)
    "$ROOT/.venv/bin/coproc" prove --bundle "$tmp/bundle.json" --model "$tmp/model.json" \
      --spec "$tmp/spec.json" --subject 0x4242424242424242424242424242424242424242 \
      --out "$tmp/receipt.json" --no-record  # a temporary file: nothing to index
    echo "proved in $(( $(date +%s) - start )) s" >&2
    "$ROOT/.venv/bin/coproc" verify-receipt "$tmp/receipt.json"
    rm -rf "$tmp"
    ;;
  prove-batch-check)
    # One real (non-dev) local proof of a 16-subject batch (bench/prove_batch_check.py).
    (cd "$ROOT" && .venv/bin/python -m bench.prove_batch_check)
    ;;
  proto-accumulator)
    shift
    exec bash "$ROOT/proto/accumulator/run.sh" "$@"
    ;;
  env)
    echo "RUSTC=$RUSTC CARGO=$CARGO HOST_TARGET=$HOST_TARGET GUEST_TARGET=$GUEST_TARGET"
    ;;
  *)
    echo "usage: bash scripts/rust.sh build|guest|test|image-id|prove-check|env" >&2
    exit 2
    ;;
esac
