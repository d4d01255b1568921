"""End to end on a real anvil: the demo market, a proof bundle built and verified by
coprocessor.bundle, then ``coproc features`` with the sample model's spec and model.
Expected values are recomputed here from plain eth_getStorageAt reads."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from coprocessor import cli, features
from coprocessor.bundle import ProofAtBlock, build_bundle
from coprocessor.devnet import start_anvil, stop_pid
from coprocessor.headers import header_from_json
from coprocessor.models import model as fmt
from coprocessor.models import reference

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "models" / "lending-risk-v1.features.json"
MODEL = ROOT / "models" / "lending-risk-v1.json"


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

    train = _training_module()
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
