"""The remote-prover path (``BONSAI_API_URL``/``BONSAI_API_KEY``) against a local
Bonsai-API server: an in-process aiohttp app speaking the REST protocol of
``bonsai-sdk`` 1.4 (image and input uploads to presigned URLs, session create, status
polling, receipt download), which is what ``coproc-host prove`` talks to through
risc0-zkvm's ``BonsaiProver``.

This server (``bonsai_standin``) is a stand-in for the hosted service, named as such:
it cannot make real proofs in a test's time, so it answers with a dev-mode (fake) receipt
made by the local ``coproc-host prove --dev`` for the request the test gives it, and the
client runs with ``RISC0_DEV_MODE=1`` (the only mode in which a fake receipt verifies).
What is tested is the wire path and coproc-host's own checks: the uploads, the polling,
the receipt download and decoding, failures mapped to one-line errors with nothing
written, and that a receipt for another journal than the request's is refused. (The pool
of several such endpoints: tests/zk/test_prover_pool.py.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bonsai_standin import KEY, FakeBonsai, serving
from guest_helpers import (
    SUBJECT,
    prove_request,
    reference_journal,
    weth_request,
)

from coprocessor.errors import ToolError, VerificationError
from coprocessor.zk import prover


@pytest.fixture()
def bonsai() -> Iterator[FakeBonsai]:
    with serving(FakeBonsai()) as state:
        yield state


@pytest.fixture(scope="module")
def request_files(shared_vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bonsai")
    req = weth_request(shared_vectors, tmp)
    bundle, spec, model, paths = req["bundle"], req["spec"], req["model"], req["paths"]
    # The receipts the server will hand out, made locally in dev mode: one for this
    # request and one for another subject (same image, another journal).
    receipts = {}
    for name, subject in (("ours", SUBJECT), ("other", "0x" + "43" * 20)):
        out = tmp / f"{name}.json"
        prover.prove(prove_request(paths, subject), out, dev=True)
        receipts[name] = bytes.fromhex(json.loads(out.read_text())["receipt_bincode_hex"][2:])
    want = reference_journal(bundle, model, spec, SUBJECT)
    return {"paths": paths, "receipts": receipts, "want": want, "tmp": tmp}


def _prove_remote(
    files: dict[str, Any], server: FakeBonsai, out: Path, key: str = KEY
) -> dict[str, Any]:
    env = {
        "BONSAI_API_URL": server.url,
        "BONSAI_API_KEY": key,
        "RISC0_PROVER": "bonsai",
        "BONSAI_POLL_INTERVAL_MS": "20",
        "RISC0_DEV_MODE": "1",
    }
    p = files["paths"]
    args = ["prove", *prove_request(p).args(), "--out", str(out)]
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        # run_host directly: prover.prove would pin RISC0_DEV_MODE itself
        return prover.run_host(args, timeout=120)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_remote_proof_round_trip(
    request_files: dict[str, Any], bonsai: FakeBonsai, tmp_path: Path
) -> None:
    bonsai.receipt = request_files["receipts"]["ours"]
    out = tmp_path / "receipt.json"
    summary = _prove_remote(request_files, bonsai, out)
    assert summary["prover"] == "bonsai" and summary["dev_mode"] is True
    assert summary["journal"] == request_files["want"]
    # the server saw the whole protocol: our image, one input, one session, polling
    assert list(bonsai.images) == [prover.committed_image_id()[2:]]
    assert len(bonsai.inputs) == 1 and len(bonsai.sessions) == 1
    (session,) = bonsai.sessions.values()
    assert session["req"]["execute_only"] is False
    assert bonsai.polls >= 2 and bonsai.downloads == 1
    doc = prover.load_receipt(out)
    assert doc["prover"] == "bonsai" and doc["journal_hex"] == summary["journal_hex"]


def test_remote_failure_is_one_clear_error_and_writes_nothing(
    request_files: dict[str, Any], bonsai: FakeBonsai, tmp_path: Path
) -> None:
    bonsai.fail_with = "out of quota (test)"
    out = tmp_path / "receipt.json"
    with pytest.raises(ToolError, match=r"FAILED.*out of quota \(test\)"):
        _prove_remote(request_files, bonsai, out)
    assert not out.exists() and not out.with_name("receipt.json.tmp").exists()


def test_a_wrong_api_key_is_refused_by_the_server(
    request_files: dict[str, Any], bonsai: FakeBonsai, tmp_path: Path
) -> None:
    out = tmp_path / "receipt.json"
    with pytest.raises(ToolError):
        _prove_remote(request_files, bonsai, out, key="wrong")
    assert bonsai.bad_keys >= 1 and not bonsai.sessions and not out.exists()


def test_a_receipt_for_another_journal_is_refused(
    request_files: dict[str, Any], bonsai: FakeBonsai, tmp_path: Path
) -> None:
    # A valid receipt of the same image for another subject: it verifies as a receipt,
    # but it does not prove this request, and coproc-host compares it with its own
    # local execution.
    bonsai.receipt = request_files["receipts"]["other"]
    out = tmp_path / "receipt.json"
    with pytest.raises(VerificationError, match="another journal"):
        _prove_remote(request_files, bonsai, out)
    assert bonsai.downloads == 1 and not out.exists()
