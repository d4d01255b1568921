#!/usr/bin/env bash
# Prototype of the history accumulator (docs/history_accumulator.md, issue #13 stretch).
# Not part of `make test`. Entry: `bash scripts/rust.sh proto-accumulator [ARGS]`.
#
#   run.sh build                       both guests (riscv32im) + the host; prints the host path
#   run.sh headers N FILE              N consecutive headers (RLP hex lines) from a fresh anvil
#   run.sh run ARGS...                 proto-acc-host ARGS (see host/src/main.rs)
#   run.sh test                        unit tests of the MMR crate (mmr/)
#   run.sh measure                     executor cycles (9 mainnet, 64/128/256 devnet headers)
#                                      and the dev-mode composition over 256 headers (seconds)
#   run.sh prove-real [N]              real local proofs (composite): A over N (default 2)
#                                      mainnet headers, then B composed with it, and the
#                                      offline verification checks (~30 min on 2 loaded cores)
#
# Same toolchain recipe as scripts/rust.sh: Debian cargo, -Zbuild-std, the risc0-build
# rustflags, DOCS_RS=1 (no recursion programs: composite receipts only), guest target
# dir under $COPROC_CACHE/proto-target, the host in the main host-target.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${COPROC_CACHE:-$HOME/.cache/coproc}"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc DOCS_RS=1
CARGO=/usr/bin/cargo
TARGET="$CACHE/proto-target"
TRIPLE=riscv32im-risc0-zkvm-elf
# The host shares the main host's target dir: the same prover crates at the same versions,
# features and kernel opt-levels (Cargo.toml), so they are not compiled a second time.
HOST_TARGET="${COPROC_PROTO_HOST_TARGET:-$CACHE/host-target}"
HOST_BIN="$HOST_TARGET/release/proto-acc-host"

build() {
  (
    cd "$HERE/guests"
    export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$TARGET/guest"
    export CARGO_TARGET_RISCV32IM_RISC0_ZKVM_ELF_RUSTFLAGS='-C passes=lower-atomic -C link-arg=-Ttext=0x00200800 -C link-arg=--fatal-warnings -C panic=abort --cfg getrandom_backend="custom"'
    $CARGO build --locked --release --target "$TRIPLE" \
      -Zbuild-std=std,panic_abort -Zbuild-std-features=compiler-builtins-mem -Ztrim-paths --quiet
  )
  (cd "$HERE" && CARGO_TARGET_DIR="$HOST_TARGET" $CARGO build --locked --release -p proto-acc-host --quiet)
}

case "${1:-}" in
  build)
    build
    echo "$HOST_BIN"
    ;;
  headers)
    (cd "$ROOT" && .venv/bin/python "$HERE/headers.py" "$2" "$3")
    ;;
  run)
    shift
    build
    "$HOST_BIN" --acc-elf "$TARGET/guest/$TRIPLE/release/acc" \
      --request-elf "$TARGET/guest/$TRIPLE/release/request" "$@"
    ;;
  test)
    (cd "$HERE" && CARGO_TARGET_DIR="$TARGET/mmr-test" $CARGO test --locked --release -p proto-mmr --quiet)
    ;;
  measure)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$0" headers mainnet "$tmp/mainnet.txt"
    "$0" headers 256 "$tmp/devnet.txt"
    "$0" run execute --headers "$tmp/mainnet.txt" --counts 1,2,9 --index 3
    "$0" run execute --headers "$tmp/devnet.txt" --counts 64,128,255,256 --index 100
    RISC0_DEV_MODE=1 "$0" run prove --headers "$tmp/devnet.txt" --count 256 --index 100
    ;;
  prove-real)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$0" headers mainnet "$tmp/mainnet.txt"
    RISC0_DEV_MODE=0 "$0" run prove --headers "$tmp/mainnet.txt" --count "${2:-2}" --index 0
    ;;
  *)
    echo "usage: bash proto/accumulator/run.sh build|headers N|mainnet FILE|run ARGS|test|measure|prove-real [N]" >&2
    exit 2
    ;;
esac
