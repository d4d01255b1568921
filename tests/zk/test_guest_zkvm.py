"""The guest in the real RISC Zero zkVM (executor; dev-mode and real local proofs):
its journal equals the Python reference on real mainnet data, and tampered inputs make
it fail with no journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from guest_helpers import (
    SUBJECT,
    prove_request,
    reference_journal,
    weth_request,
    write_request,
)

from coprocessor.cli.main import main as coproc_main
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.zk import journal, prover
from coprocessor.zk.receipt_claim import journal_digest, ok_claim_digest

RID = "0x" + "07" * 32


@pytest.fixture(scope="module")
def weth(shared_vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return weth_request(shared_vectors, tmp_path_factory.mktemp("weth"))


def _execute(paths: dict[str, Path], **kw: Any) -> dict[str, Any]:
    return prover.execute(prove_request(paths, **kw))


def test_execute_matches_python_reference(weth: dict[str, Any]) -> None:
    out = _execute(weth["paths"], request_id=RID)
    want = reference_journal(
        weth["bundle"], weth["model"], weth["spec"], SUBJECT, bytes.fromhex(RID[2:])
    )
    assert out["journal"] == want
    assert journal.decode_hex(out["journal_hex"]) == want
    assert out["dev_mode"] is False
    cycles = out["cycles"]
    assert 0 < cycles["user"] <= cycles["total"]
    assert cycles["segments"] >= 1
    assert out["image_id"] == prover.committed_image_id()


def _tampered(weth: dict[str, Any], name: str, change: Any) -> dict[str, Path]:
    bundle = json.loads(json.dumps(weth["bundle"]))
    change(bundle)
    tmp = weth["tmp"] / name
    tmp.mkdir()
    return write_request(tmp, bundle, weth["model"], weth["spec"])


def _flip(s: str, i: int) -> str:
    return s[:i] + format((int(s[i], 16) + 1) % 16, "x") + s[i + 1 :]


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "slot_value",
            lambda b: b["accounts"][0]["storage"][0].update(value="0x1"),
            "claimed value",
        ),
        ("balance", lambda b: b["accounts"][0]["account"].update(balance="0x1"), "claimed account"),
        (
            "header_byte",
            lambda b: b["headers"].__setitem__(0, _flip(b["headers"][0], 400)),
            "anchor",
        ),
        ("node_byte", lambda b: b["nodes"].__setitem__(1, _flip(b["nodes"][1], 100)), ""),
        (
            "anchor_hash",
            lambda b: b["anchor"].update(hash=_flip(b["anchor"]["hash"], 10)),
            "anchor",
        ),
    ],
)
def test_guest_rejects_tampered_bundles(
    weth: dict[str, Any], name: str, change: Any, message: str
) -> None:
    paths = _tampered(weth, name, change)
    with pytest.raises(VerificationError) as err:
        _execute(paths)
    assert "guest rejected" in str(err.value)
    assert message in str(err.value)


def test_bad_request_block_and_user_errors(weth: dict[str, Any]) -> None:
    with pytest.raises(VerificationError):
        _execute(weth["paths"], block=23223654)  # before the bundle's first header
    with pytest.raises(UserInputError):
        prover.execute(prove_request(weth["paths"], "0x12"))


def test_dev_mode_prove_is_labelled_and_verifies_only_as_dev(weth: dict[str, Any]) -> None:
    out = weth["tmp"] / "dev-receipt.json"
    summary = prover.prove(prove_request(weth["paths"], request_id=RID), out, dev=True)
    assert summary["dev_mode"] is True and "DEV MODE" in summary["warning"]
    assert summary["receipt_kind"] == "fake"
    image = bytes.fromhex(summary["image_id"][2:])
    raw_journal = bytes.fromhex(summary["journal_hex"][2:])
    # seal of the mock verifier, checked against the contracts' own claim-digest code
    assert (
        summary["seal_hex"]
        == "0xffffffff" + ok_claim_digest(image, journal_digest(raw_journal)).hex()
    )
    assert (
        summary["claim_digest"] == "0x" + ok_claim_digest(image, journal_digest(raw_journal)).hex()
    )
    with pytest.raises(VerificationError):
        prover.verify_receipt(out)
    assert prover.verify_receipt(out, dev=True)["dev_mode"] is True
    # the CLI: without --dev a fake receipt fails with exit 1
    assert coproc_main(["verify-receipt", str(out)]) == 1
    assert coproc_main(["verify-receipt", str(out), "--dev"]) == 0
