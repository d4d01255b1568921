"""formats.md §1 rule 6: the order of reads and of their storage entries is free; a
bundle with them reversed verifies to the same values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import verify_bundle

VECTOR = Path(__file__).resolve().parent.parent / "vectors" / "features" / "lending_bundle.json"


def values(bundle: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    """(block, address) -> (account, {slot: value}) as the verifier reports them."""
    out = {}
    for read in verify_bundle(bundle).bundle.accounts:
        account = read.account
        out[(read.block, read.address.hex())] = {
            "account": None if account is None else (account.nonce, account.balance),
            "storage": {s.slot.hex(): s.value for s in read.storage},
        }
    return out


def test_reversed_reads_and_slots_verify_to_the_same_values() -> None:
    bundle = json.loads(VECTOR.read_text())["bundle"]
    reversed_bundle = json.loads(json.dumps(bundle))
    reversed_bundle["accounts"].reverse()
    for read in reversed_bundle["accounts"]:
        read["storage"].reverse()
    assert reversed_bundle != bundle
    assert sum(len(r["storage"]) > 1 for r in bundle["accounts"]) >= 1  # a reorder happened
    assert values(reversed_bundle) == values(bundle)
