"""The zkVM guest (RISC Zero executor and a dev-mode receipt) verifies a bundle v2:
a read 60,000 blocks behind the anchor, tied by 8 EIP-2935 hops; its journal commits
the anchor and the request block; each tampered hop makes it fail with the code of
the rule it breaks, as the Python reference does."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import rlp

from coprocessor.chain.bundle_v2 import verify_bundle_v2
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.history import HISTORY_ADDRESS
from coprocessor.dev.history import VALUE_CONTRACT, History
from coprocessor.errors import CoprocessorError, VerificationError, rule_code
from coprocessor.zk import prover

SUBJECT = "0x" + "42" * 20
MODEL = {
    "format": "coproc-model",
    "version": 1,
    "name": "history",
    "scale_bits": 16,
    "input_dim": 1,
    "layers": [
        {"op": "dense", "in": 1, "out": 1, "weights": [[1]], "bias": [0]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def _spec(offset: int) -> dict[str, Any]:
    read = {
        "kind": "storage",
        "address": "0x" + VALUE_CONTRACT.hex(),
        "slot": {"base": 0},
        "block_offset": offset,
    }
    feature = {"name": "value", "read": read, "decimals": 18}
    return {"format": "coproc-features", "version": 1, "name": "deep", "features": [feature]}


def _request(tmp: Path, bundle: dict[str, Any], offset: int) -> prover.ProveRequest:
    tmp.mkdir(parents=True, exist_ok=True)
    for name, obj in (("bundle", bundle), ("model", MODEL), ("spec", _spec(offset))):
        (tmp / f"{name}.json").write_text(json.dumps(obj))
    return prover.ProveRequest(tmp / "bundle.json", tmp / "model.json", tmp / "spec.json", SUBJECT)


def test_the_guest_proves_a_read_60000_blocks_back(
    history: History, deep: dict[str, Any], tmp_path: Path
) -> None:
    bundle = deep["json"]
    out = prover.execute(_request(tmp_path / "ok", bundle, 60_000))
    journal = out["journal"]
    assert journal["anchorNumber"] == history.head
    assert journal["anchorHash"] == bundle["anchor"]["hash"]
    assert journal["blockNumber"] == history.head
    assert out["image_id"] == prover.committed_image_id()
    receipt = tmp_path / "receipt.json"
    summary = prover.prove(_request(tmp_path / "dev", bundle, 60_000), receipt, dev=True)
    assert summary["dev_mode"] is True and summary["journal"] == journal
    assert prover.verify_receipt(receipt, dev=True)["journal"] == journal


def _tampered(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    bad = copy.deepcopy(bundle)
    entry = next(a for a in bad["accounts"] if a["address"] == hexstr(HISTORY_ADDRESS))
    entry["storage"][0]["value"] = hex(int(entry["storage"][0]["value"], 16) ^ 1)
    out["hop_value"] = bad
    bad = copy.deepcopy(bundle)
    entry = next(a for a in bad["accounts"] if a["address"] == hexstr(HISTORY_ADDRESS))
    lost = bad["hops"][0]["to"] % 8191
    entry["storage"] = [s for s in entry["storage"] if int(s["slot"], 16) != lost]
    out["hop_slot"] = bad
    bad = copy.deepcopy(bundle)
    items = rlp.decode(bytes.fromhex(bad["headers"][0][2:]))  # the hop target 60,000 back
    items[12] = b"another block"
    bad["headers"][0] = "0x" + rlp.encode(items).hex()
    out["hop_value (header of another block)"] = bad
    bad = copy.deepcopy(bundle)
    bad["hops"][-2]["from"] = bad["hops"][-1]["from"]
    out["hop_range"] = bad
    out["hop_activation"] = dict(bundle, chain_id=1)
    return out


def test_tampered_hops_fail_in_the_guest_with_their_rule(
    deep: dict[str, Any], tmp_path: Path
) -> None:
    for i, (name, bad) in enumerate(_tampered(deep["json"]).items()):
        rule = name.split(" ")[0]
        with pytest.raises(CoprocessorError) as reference:
            verify_bundle_v2(bad)
        assert reference.value.rule == rule, name
        with pytest.raises(VerificationError) as guest:
            prover.execute(_request(tmp_path / str(i), bad, 60_000))
        assert f"[{rule_code(rule)}]" in str(guest.value), (name, str(guest.value))
