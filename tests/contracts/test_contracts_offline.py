"""Contracts-side Python that needs no node: the generated Solidity journal library is
current, the dev-verifier claim digest matches RISC Zero's published constant, EIP-712
vectors are reproducible and agree with a hand-rolled EIP-712 hash, batch trees."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from locations import REPO

from coprocessor.errors import UserInputError, VerificationError
from coprocessor.onchain import eip712
from coprocessor.zk import batch_journal, receipt_claim


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ journal v1 (generated)


def test_generated_journal_library_is_current() -> None:
    gen = _script("gen_journal_sol")
    fresh = gen.generate(json.loads((REPO / "spec" / "journal_v1.json").read_text()))
    committed = (REPO / "contracts" / "src" / "generated" / "JournalV1.sol").read_text()
    assert committed == fresh, "run scripts/gen_journal_sol.py"


def test_generated_journal_library_follows_spec_fields() -> None:
    spec = json.loads((REPO / "spec" / "journal_v1.json").read_text())
    text = (REPO / "contracts" / "src" / "generated" / "JournalV1.sol").read_text()
    struct = text.split("struct Journal {")[1].split("}")[0]
    declared = [line.strip().rstrip(";").split() for line in struct.strip().splitlines()]
    assert declared == [[f["type"], f["name"]] for f in spec["fields"]]
    assert f"LENGTH = {32 * len(spec['fields'])};" in text


@pytest.mark.parametrize("bad_type", ["bytes", "string", "int64", "uint7", "bytes4"])
def test_generator_rejects_unsupported_types(bad_type: str) -> None:
    gen = _script("gen_journal_sol")
    spec: dict[str, Any] = {
        "name": "J",
        "version": 1,
        "fields": [{"name": "version", "type": "uint8"}],
    }
    spec["fields"].append({"name": "x", "type": bad_type})
    with pytest.raises(ValueError):
        gen.generate(spec)


# ------------------------------------------------------------------ receipt claim


def test_halted_post_state_is_risc_zeros_published_constant() -> None:
    # SYSTEM_STATE_ZERO_DIGEST in risc0-ethereum's IRiscZeroVerifier.sol
    expected = "a3acc27117418996340b84e5a90f3ef4c49d22c79e44aad822ec9c313e1eb8e2"
    assert receipt_claim.HALTED_POST_STATE.hex() == expected


def test_dev_seal_shape_and_input_checks() -> None:
    seal = receipt_claim.dev_seal(b"\x01" * 32, b"journal")
    assert len(seal) == 36 and seal[:4] == b"\xff\xff\xff\xff"
    assert seal[4:] != receipt_claim.dev_seal(b"\x02" * 32, b"journal")[4:]
    with pytest.raises(UserInputError):
        receipt_claim.ok_claim_digest(b"\x01" * 31, b"\x00" * 32)
    with pytest.raises(UserInputError):
        receipt_claim.tagged_struct("t", [b"\x00"], [])


# ------------------------------------------------------------------ EIP-712


def _score(**changes: object) -> eip712.SignedScore:
    fields: dict[str, object] = {
        "source_chain_id": 1,
        "block_number": 19_000_000,
        "subject": "0x" + "0b" * 20,
        "model_hash": b"\x01" * 32,
        "feature_spec_hash": b"\x02" * 32,
        "score": 4321,
    }
    fields.update(changes)
    return eip712.SignedScore(**fields)  # type: ignore[arg-type]


def test_digest_equals_hand_rolled_eip712() -> None:
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    s = _score()
    type_hash = keccak(
        b"SignedScore(uint64 sourceChainId,uint64 blockNumber,address subject,"
        b"bytes32 modelHash,bytes32 featureSpecHash,uint32 score)"
    )
    domain_type = keccak(
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    domain = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_type, keccak(b"coproc SignedScores"), keccak(b"1"), 31337, contract],
        )
    )
    struct_hash = keccak(
        encode(
            ["bytes32", "uint64", "uint64", "address", "bytes32", "bytes32", "uint32"],
            [type_hash, 1, 19_000_000, s.subject, s.model_hash, s.feature_spec_hash, 4321],
        )
    )
    assert eip712.digest(s, 31337, contract) == keccak(b"\x19\x01" + domain + struct_hash)


def test_sign_recover_and_rejections() -> None:
    key = bytes.fromhex("59c6995e998f97a51a529cd5a9d2a64f3d4ddff1c9e4f5b47b1f8f42ed0ee56f")
    contract = "0x" + "22" * 20
    s = _score()
    sig = eip712.sign(s, key, 31337, contract)
    assert eip712.recover(s, sig, 31337, contract) == Account.from_key(key).address
    # another chain, contract or score recovers someone else
    assert eip712.recover(s, sig, 1, contract) != Account.from_key(key).address
    assert eip712.recover(s, sig, 31337, "0x" + "23" * 20) != Account.from_key(key).address
    assert eip712.recover(_score(score=1), sig, 31337, contract) != Account.from_key(key).address
    n = eip712.SECP256K1_N
    high = sig[:32] + (n - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + sig[64:]
    with pytest.raises(VerificationError, match="high s"):
        eip712.recover(s, high, 31337, contract)
    with pytest.raises(VerificationError):
        eip712.recover(s, sig[:64], 31337, contract)
    with pytest.raises(VerificationError):
        eip712.recover(s, sig[:64] + b"\x01", 31337, contract)


@pytest.mark.parametrize(
    "changes",
    [{"score": 2**32}, {"score": -1}, {"subject": "0x1234"}, {"model_hash": b"\x00" * 31}],
)
def test_signed_score_validation(changes: dict[str, object]) -> None:
    with pytest.raises(UserInputError):
        _score(**changes)


def test_eip712_vectors_are_reproducible() -> None:
    gen = _script("gen_eip712_vectors")
    committed = json.loads(
        (REPO / "tests" / "vectors" / "eip712" / "signed_scores.json").read_text()
    )
    assert gen.build() == committed, "run scripts/gen_eip712_vectors.py"
    for case in committed["cases"]:
        s = _score(
            source_chain_id=case["sourceChainId"],
            block_number=case["blockNumber"],
            subject=case["subject"],
            model_hash=bytes.fromhex(case["modelHash"][2:]),
            feature_spec_hash=bytes.fromhex(case["featureSpecHash"][2:]),
            score=case["score"],
        )
        sig = bytes.fromhex(case["signature"][2:])
        signer = eip712.recover(s, sig, case["chainId"], case["verifyingContract"])
        assert signer == case["signer"]


# ------------------------------------------------------------------ batch tree


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 64, 65])
def test_batch_proofs_fold_to_root(n: int) -> None:
    hashes = [keccak(i.to_bytes(2, "big")) for i in range(n)]
    r = batch_journal.root(hashes)
    for i in range(n):
        p = batch_journal.proof(hashes, i)
        assert batch_journal.verify(hashes[i], p, r)
        assert not batch_journal.verify(keccak(b"other"), p, r)


def test_batch_journal_encoding() -> None:
    j = batch_journal.encode_batch(1, 10, b"\x0a" * 32, b"\x0b" * 32, 64, b"\x0c" * 32)
    assert len(j) == 224 and j[31] == 1 and j[5 * 32 + 31] == 64
    with pytest.raises(UserInputError):
        batch_journal.encode_batch(1, 10, b"\x0a" * 32, b"\x0b" * 32, 0, b"\x0c" * 32)
    with pytest.raises(UserInputError):
        batch_journal.root([])


# ------------------------------------------------------------------ guest image ID


def test_guest_image_id_from_generated_solidity(tmp_path: Path) -> None:
    from coprocessor.onchain import contracts

    sol = tmp_path / "ImageID.sol"
    with pytest.raises(UserInputError, match="does not exist"):
        contracts.guest_image_id(sol)
    sol.write_text("library ImageID { bytes32 public constant RISK_SCORE_ID = 0x12; }")
    with pytest.raises(UserInputError, match="RISK_SCORE_ID"):
        contracts.guest_image_id(sol)
    value = "0x" + "ab" * 31 + "cd"
    body = f"bytes32 public constant RISK_SCORE_ID =\n        bytes32({value});"
    sol.write_text(f"library ImageID {{\n    {body}\n}}")
    assert contracts.guest_image_id(sol) == bytes.fromhex(value[2:])
