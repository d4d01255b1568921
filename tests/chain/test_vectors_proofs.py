"""Real EIP-1186 proofs (mainnet, hive, testnets): the trie-package reference and the
node-pool walker agree on every account and slot, inclusion and absence; bundles built
from real headers + proofs verify; tampering is rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from locations import CHAIN_VECTORS

from coprocessor.chain.bundle import ProofAtBlock, build_bundle, verify_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.hexutil import to_bytes
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.proofs import (
    decode_account,
    decode_storage_value,
    parse_slot_key,
    verify_proof_response,
)
from coprocessor.errors import VerificationError

VECTORS = CHAIN_VECTORS
PROOFS = sorted((VECTORS / "proofs").glob("*.json"))
#: proof files whose block header is among the header vectors
WITH_HEADER = {
    "cancun_21925176": "headers/cancun_21925176.json",
    "frontier_499999": "headers/frontier_499999.json",
    "frontier_500000": "headers/frontier_500000.json",
    "prague_23223655": "headers/prague_23223655.json",
    "shanghai_17463226": "headers/shanghai_17463226.json",
    "hive_54": "headers_nonmainnet/hive_bpo2_54.json",
}


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("path", PROOFS, ids=[p.stem for p in PROOFS])
def test_reference_and_walker_agree(path: Path) -> None:
    data = _load(path)
    proof = data["proof"]
    root = to_bytes(data["block"]["stateRoot"], "stateRoot", 32)
    reference = verify_proof_response(proof, root)

    nodes = [to_bytes(n, "node") for n in proof["accountProof"]]
    pool = NodePool.from_nodes(nodes)
    leaf = pool.get(root, keccak256(reference.address), "walker")
    walked = decode_account(leaf, "walker") if leaf is not None else None
    assert walked == reference.account
    for entry in proof["storageProof"]:
        key = parse_slot_key(entry["key"], "key")
        spool = NodePool.from_nodes(to_bytes(n, "node") for n in entry["proof"])
        assert walked is not None
        value = decode_storage_value(spool.get(walked.storage_root, keccak256(key), "s"), "s")
        assert value == reference.storage[key]
        assert value == int(entry["value"], 16)  # the node's own claim, independent
    assert pool.unused() == [] or reference.account is None


def test_exclusion_vectors_are_absent() -> None:
    for name in (
        "ropsten_nonexistent_account_exclusion",
        "sepolia_5702743_absent_account_exclusion",
    ):
        data = _load(VECTORS / "proofs" / f"{name}.json")
        root = to_bytes(data["block"]["stateRoot"], "stateRoot", 32)
        assert verify_proof_response(data["proof"], root).account is None


@pytest.mark.parametrize("prefix", sorted(WITH_HEADER))
def test_bundle_from_real_header_and_proofs(prefix: str) -> None:
    header = _load(VECTORS / WITH_HEADER[prefix])
    files = sorted((VECTORS / "proofs").glob(f"{prefix}_*.json"))
    assert files
    number = int(header["number"], 16)
    verified = build_bundle(
        1,
        [encode_header_json(header)],
        [ProofAtBlock(number, _load(f)["proof"]) for f in files],
    )
    assert "0x" + verified.anchor.hash.hex() == header["hash"]
    again = verify_bundle(json.loads(json.dumps(verified.bundle.to_json())))
    assert again.to_json() == verified.to_json()
    out = again.to_json()
    for f in files:
        proof = _load(f)["proof"]
        read = next(a for a in out["accounts"] if a["address"] == proof["address"].lower())
        if read["account"] is not None:
            assert int(read["account"]["balance"], 16) == int(proof["balance"], 16)
            assert read["account"]["code_hash"] == proof["codeHash"].lower()
        for entry in proof["storageProof"]:
            key = "0x" + entry["key"][2:].rjust(64, "0").lower()
            assert int(read["storage"][key], 16) == int(entry["value"], 16)


def test_tampered_claims_rejected() -> None:
    data = _load(VECTORS / "proofs" / "cancun_19493153_usdt_2slots.json")
    root = to_bytes(data["block"]["stateRoot"], "stateRoot", 32)
    proof = data["proof"]
    bad = dict(proof, balance=hex(int(proof["balance"], 16) + 1))
    with pytest.raises(VerificationError, match="claimed account"):
        verify_proof_response(bad, root)
    entry = dict(proof["storageProof"][1], value="0x1")
    bad = dict(proof, storageProof=[proof["storageProof"][0], entry])
    with pytest.raises(VerificationError, match="claimed value"):
        verify_proof_response(bad, root)
    node = proof["accountProof"][-1]
    flipped = node[:-2] + ("00" if node[-2:] != "00" else "01")
    bad = dict(proof, accountProof=[*proof["accountProof"][:-1], flipped])
    with pytest.raises(VerificationError):
        verify_proof_response(bad, root)
