#!/usr/bin/env bash
# Setup stage: RISC Zero's own Solidity (crate risc0-ethereum-contracts, pinned in
# tools/risc0-ethereum/Cargo.lock) for contracts/: the verifier router, the Groth16
# verifier with its control root, the set verifier, the emergency stop, the test
# receipts with real Groth16 seals, and deployment.toml (published routers/verifiers).
# cargo fetches the crate (checksum checked against the lock); its Solidity is copied into
# contracts/lib/risc0-ethereum (ignored by git), where contracts/foundry.toml's remapping
# `risc0/` points. OpenZeppelin, which it imports, comes from npm (tools/npm).
# A no-op when the lock and this script are unchanged and the copy is in place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
MANIFEST="tools/risc0-ethereum/Cargo.toml"
[ -f "$MANIFEST" ] || exit 0
log() { printf '[setup:risc0-ethereum] %s\n' "$*" >&2; }

dest="contracts/lib/risc0-ethereum"
stamp="$dest/.coproc-stamp"
hash="$(cat tools/risc0-ethereum/Cargo.lock scripts/setup.d/15-risc0-ethereum.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  exit 0
fi
log "fetching risc0-ethereum-contracts (cargo) and copying its Solidity into $dest"
export RUSTC=/usr/bin/rustc
/usr/bin/cargo fetch --locked --quiet --manifest-path "$MANIFEST" --target x86_64-unknown-linux-gnu
crate_dir="$(
  /usr/bin/cargo metadata --locked --offline --format-version 1 --manifest-path "$MANIFEST" \
    --filter-platform x86_64-unknown-linux-gnu \
    | python3 -c '
import json, os, sys
pkgs = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "risc0-ethereum-contracts"]
if len(pkgs) != 1:
    sys.exit("risc0-ethereum-contracts: expected exactly one package in the lock")
print(os.path.dirname(pkgs[0]["manifest_path"]))
'
)"
for f in src/RiscZeroVerifierRouter.sol src/groth16/RiscZeroGroth16Verifier.sol deployment.toml test/TestReceiptV3_0.sol; do
  [ -f "$crate_dir/$f" ] || { echo "risc0-ethereum-contracts: $f missing from the fetched crate" >&2; exit 1; }
done
rm -rf "$dest.new"
mkdir -p "$dest.new/test"
cp -R "$crate_dir/src" "$dest.new/src"
cp "$crate_dir"/test/TestReceipt*.sol "$dest.new/test/"
cp "$crate_dir/deployment.toml" "$crate_dir/Cargo.toml" "$dest.new/"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "$hash" > "$stamp"
# contracts/ must be rebuilt against the new sources.
rm -f contracts/out/.coproc-stamp
log "risc0-ethereum-contracts $(sed -n 's/^version = "\(.*\)"/\1/p' "$dest/Cargo.toml" | head -1) in $dest"
