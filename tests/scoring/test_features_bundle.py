"""End to end on a real anvil: the demo market, a proof bundle built and verified by
coprocessor.chain.bundle, then ``coproc features`` with the sample model's spec and model.
Expected values are recomputed here from plain eth_getStorageAt reads."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from Crypto.Hash import keccak as _keccak
from locations import REPO

from coprocessor.chain.bundle import ProofAtBlock, build_bundle, verify_bundle
from coprocessor.chain.headers import header_from_json
from coprocessor.cli import main as cli
from coprocessor.dev.devnet import start_anvil, stop_pid
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference

ROOT = REPO
SPEC = ROOT / "models" / "lending-risk-v1.features.json"
MODEL = ROOT / "models" / "lending-risk-v1.json"
VECTOR = ROOT / "tests" / "vectors" / "features" / "lending_bundle.json"
INT32 = (-(2**31), 2**31 - 1)


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def independent_vector(verified: dict[str, Any], subject: str, block: int) -> list[int]:
    """models/lending-risk-v1.features.json evaluated by hand from the verified values:
    slots with pycryptodome keccak, conversions and combine ops as docs/formats.md §3
    states them (Fraction-free integer arithmetic written out per feature)."""
    spec = json.loads(SPEC.read_text())
    pool = spec["features"][0]["read"]["address"]
    oracle = spec["features"][2]["read"]["address"]
    k = _keccak.new(
        digest_bits=256, data=bytes(12) + bytes.fromhex(subject[2:]) + bytes(31) + b"\x02"
    )
    position = int.from_bytes(k.digest(), "big")

    def word(address: str, at: int, slot: int) -> int:
        entry = next(a for a in verified["accounts"] if (a["block"], a["address"]) == (at, address))
        return int(entry["storage"]["0x" + slot.to_bytes(32, "big").hex()], 16)

    w0, w1 = word(pool, block, position), word(pool, block, position + 1)
    price, price_8 = word(oracle, block, 0), word(oracle, block - 8, 0)
    collateral = _clamp((w0 & (2**128 - 1)) * 65536 // 10**18, 0, INT32[1])
    debt_k = _clamp((w0 >> 128) * 65536 // 10**21, 0, INT32[1])
    price_k = _clamp(price * 65536 // 10**11, 0, INT32[1])
    price_k_8 = _clamp(price_8 * 65536 // 10**11, 0, INT32[1])
    liquidations = _clamp(((w1 >> 64) & 0xFFFFFFFF) * 65536, 0, 100 * 65536)
    value_k = _clamp((collateral * price_k + 32768) >> 16, 0, INT32[1])
    ltv = 4 * 65536 if value_k == 0 else _clamp((debt_k << 16) // value_k, 0, 4 * 65536)
    change = _clamp(price_k - price_k_8, *INT32)
    ratio = 4 * 65536 if price_k_8 == 0 else _clamp((price_k << 16) // price_k_8, 0, 4 * 65536)
    ltv_x_drop = _clamp((ltv * change + 32768) >> 16, *INT32)
    return [
        collateral,
        debt_k,
        price_k,
        price_k_8,
        liquidations,
        value_k,
        ltv,
        change,
        ratio,
        ltv_x_drop,
    ]


def _training_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_sample_model", ROOT / "scripts" / "train_sample_model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, object]]:
    import numpy as np

    train: Any = _training_module()
    train.STEPS = 40
    node = start_anvil(
        "features", tmp_path_factory.mktemp("anvil"), persist=False,
        extra_args=("--accounts", str(train.BORROWERS + 2)),
    )  # fmt: skip
    try:
        rpc = train.Rpc(node.rpc)
        m = train.deploy(rpc)
        rpc.call("evm_setAutomine", False)
        train.setup_balances(m)
        train.simulate(m, np.random.default_rng(5))
        yield train, m
    finally:
        stop_pid(node.pid)


def _bundle_for(train: ModuleType, m: object, subject: str, block: int) -> dict[str, object]:
    rpc = m.rpc  # type: ignore[attr-defined]
    spec = features.load(SPEC)
    reads = features.required_reads(spec, subject, block)
    grouped: dict[tuple[int, str], list[str]] = {}
    for r in reads:
        slots = grouped.setdefault((r.block, r.address), [])
        if r.slot is not None:
            slots.append("0x" + r.slot.to_bytes(32, "big").hex())
    proofs = [
        ProofAtBlock(b, rpc.call("eth_getProof", a, s, hex(b))) for (b, a), s in grouped.items()
    ]
    first = min(r.block for r in reads)
    headers = [
        header_from_json(rpc.call("eth_getBlockByNumber", hex(n), False)).raw
        for n in range(first, block + 1)
    ]
    chain_id = int(rpc.call("eth_chainId"), 16)
    bundle: dict[str, object] = build_bundle(chain_id, headers, proofs).bundle.to_json()
    return bundle


def test_features_from_a_verified_bundle(
    market: tuple[ModuleType, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train, m = market
    rpc = m.rpc  # type: ignore[attr-defined]
    pool, oracle = m.pool, m.oracle  # type: ignore[attr-defined]
    block = int(rpc.call("eth_blockNumber"), 16)
    # a borrower with debt
    subject = ""
    word = 0
    for b in m.borrowers:  # type: ignore[attr-defined]
        word = int(rpc.call("eth_getStorageAt", pool, hex(train.position_slot(b)), hex(block)), 16)
        if word >> 128:
            subject = b
            break
    assert subject, "no borrower has debt"
    bundle = _bundle_for(train, m, subject, block)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("features",))
    argv = ["features", "--spec", str(SPEC), "--bundle", str(path), "--subject", subject]
    assert cli.main([*argv, "--model", str(MODEL)]) == 0
    out = json.loads(capsys.readouterr().out)

    # independent recomputation from plain storage reads
    second = int(
        rpc.call("eth_getStorageAt", pool, hex(train.position_slot(subject) + 1), hex(block)), 16
    )
    price = int(rpc.call("eth_getStorageAt", oracle, "0x0", hex(block)), 16)
    price_8 = int(rpc.call("eth_getStorageAt", oracle, "0x0", hex(block - 8)), 16)
    collateral, debt = word & (2**128 - 1), word >> 128
    expected_reads = {
        "collateral": collateral * 65536 // 10**18,
        "debt_k": debt * 65536 // 10**21,
        "price_k": price * 65536 // 10**11,
        "price_k_8": price_8 * 65536 // 10**11,
        "liquidations": ((second >> 64) & 0xFFFFFFFF) * 65536,
    }
    got = {f["name"]: f["q16"] for f in out["features"]}
    for name, value in expected_reads.items():
        assert got[name] == value, name
    value_k = (got["collateral"] * got["price_k"] + 32768) >> 16
    assert got["collateral_value_k"] == value_k
    assert got["ltv"] == min((got["debt_k"] << 16) // value_k, 4 * 65536)
    assert got["price_change_k"] == got["price_k"] - got["price_k_8"]
    assert out["vector"] == [f["q16"] for f in out["features"]]
    verified = verify_bundle(bundle).to_json()
    assert out["vector"] == independent_vector(verified, subject, block)
    assert out["spec_hash"] == fmt.load(MODEL).meta["feature_spec_hash"]
    assert out["score"] == reference.score(fmt.load(MODEL), out["vector"])
    assert 0 <= out["score"] <= 10_000

    # a tampered value is rejected by verification (exit 1), nothing printed
    accounts = bundle["accounts"]
    assert isinstance(accounts, list)
    for acc in accounts:
        if acc["storage"]:
            acc["storage"][0]["value"] = hex(int(acc["storage"][0]["value"], 16) + 1)
            break
    path.write_text(json.dumps(bundle))
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1


def test_committed_bundle_vector() -> None:
    """tests/vectors/features/lending_bundle.json (a real anvil bundle for the guest):
    it verifies, and its expected vector and score match the hand evaluation and the
    model oracle of tests/test_models_oracle.py."""
    from test_models_oracle import o_run

    vec = json.loads(VECTOR.read_text())
    verified = verify_bundle(vec["bundle"]).to_json()
    assert vec["spec_hash"] == "0x" + features.spec_hash(features.load(SPEC)).hex()
    model_json = json.loads(MODEL.read_text())
    assert vec["model_hash"] == fmt.from_json(model_json).hash_hex()
    for case in vec["cases"]:
        expected = independent_vector(verified, case["subject"], case["block"])
        assert case["vector"] == expected
        assert case["score"] == o_run(model_json, expected)[-1][0]
        got = features.compute(features.load(SPEC), verified, case["subject"], case["block"])
        assert list(got.values) == expected
    assert len({c["score"] for c in vec["cases"]}) > 1  # not a constant model


def write_vector() -> None:
    """Regenerate lending_bundle.json from a fresh anvil market (headers carry
    timestamps, so the bytes differ run to run; the test above checks the content)."""
    import numpy as np

    train: Any = _training_module()
    train.STEPS = 40
    with __import__("tempfile").TemporaryDirectory() as tmp:
        node = start_anvil(
            "vector", Path(tmp), persist=False, extra_args=("--accounts", str(train.BORROWERS + 2))
        )
        try:
            rpc = train.Rpc(node.rpc)
            m = train.deploy(rpc)
            rpc.call("evm_setAutomine", False)
            train.setup_balances(m)
            train.simulate(m, np.random.default_rng(5))
            block = int(rpc.call("eth_blockNumber"), 16)
            subjects = []
            for b in m.borrowers:
                w = int(
                    rpc.call("eth_getStorageAt", m.pool, hex(train.position_slot(b)), "latest"), 16
                )
                if w >> 128:
                    subjects.append(b)
            spec = features.load(SPEC)
            reads = [r for s in subjects[:4] for r in features.required_reads(spec, s, block)]
            grouped: dict[tuple[int, str], list[str]] = {}
            for r in reads:
                slots = grouped.setdefault((r.block, r.address), [])
                key = "0x" + r.slot.to_bytes(32, "big").hex() if r.slot is not None else None
                if key is not None and key not in slots:
                    slots.append(key)
            proofs = [
                ProofAtBlock(b, rpc.call("eth_getProof", a, s, hex(b)))
                for (b, a), s in grouped.items()
            ]
            headers = [
                header_from_json(rpc.call("eth_getBlockByNumber", hex(n), False)).raw
                for n in range(block - 8, block + 1)
            ]
            verified = build_bundle(int(rpc.call("eth_chainId"), 16), headers, proofs)
        finally:
            stop_pid(node.pid)
    model = fmt.load(MODEL)
    values = verified.to_json()
    cases = []
    for s in subjects[:4]:
        vector = list(features.compute(spec, values, s, block).values)
        cases.append(
            {
                "subject": s,
                "block": block,
                "vector": vector,
                "score": reference.score(model, vector),
            }
        )
    VECTOR.write_text(
        json.dumps(
            {
                "_doc": "a real anvil bundle of the demo market (scripts/train_sample_model.py) "
                "for models/lending-risk-v1.features.json: bundle -> verify -> features -> score",
                "spec_file": "models/lending-risk-v1.features.json",
                "spec_hash": "0x" + features.spec_hash(spec).hex(),
                "model_file": "models/lending-risk-v1.json",
                "model_hash": model.hash_hex(),
                "cases": cases,
                "bundle": verified.bundle.to_json(),
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    write_vector()
