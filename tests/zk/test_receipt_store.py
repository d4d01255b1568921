"""The prover client's receipt index (coprocessor.zk.receipt_store): ``coproc prove`` writes
the receipt file and one SQLite row, whose journal columns are decoded from the
receipt's journal bytes and equal the Python reference; tampering and schema drift are
errors, not silently kept rows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from guest_helpers import (
    SUBJECT,
    reference_journal,
    weth_request,
)

from coprocessor.cli.main import main as coproc_main
from coprocessor.errors import StoreError, VerificationError
from coprocessor.zk import receipt_store

RID = "0x" + "2a" * 32


@pytest.fixture(scope="module")
def proved(shared_vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One dev-mode proof through the CLI (real guest execution, fake seal)."""
    tmp = tmp_path_factory.mktemp("receipts")
    req = weth_request(shared_vectors, tmp)
    bundle, spec, model, paths = req["bundle"], req["spec"], req["model"], req["paths"]
    data = tmp / "data"
    out = tmp / "receipt.json"
    args = ["--data-dir", str(data), "prove", "--bundle", str(paths["bundle"])]
    args += ["--model", str(paths["model"]), "--spec", str(paths["spec"])]
    args += ["--subject", SUBJECT, "--request-id", RID, "--dev", "--quiet", "--out", str(out)]
    assert coproc_main(args) == 0
    want = reference_journal(bundle, model, spec, SUBJECT, bytes.fromhex(RID[2:]))
    return {"data": data, "out": out, "want": want, "tmp": tmp, "paths": paths}


def _rows(data: Path) -> list[dict[str, Any]]:
    store = receipt_store.open_default(data)
    try:
        return store.rows()
    finally:
        store.close()


def test_prove_records_one_row_equal_to_the_reference(proved: dict[str, Any]) -> None:
    rows = _rows(proved["data"])
    assert len(rows) == 1
    row, want = rows[0], proved["want"]
    raw = proved["out"].read_bytes()
    assert row["file_sha256"] == hashlib.sha256(raw).hexdigest()
    assert row["file_bytes"] == len(raw)
    assert row["path"] == str(proved["out"].resolve())
    assert row["dev_mode"] is True and row["receipt_kind"] == "fake"
    assert (row["chain_id"], row["block_number"]) == (want["chainId"], want["blockNumber"])
    assert (row["anchor_number"], row["anchor_hash"]) == (want["anchorNumber"], want["anchorHash"])
    assert row["subject"] == want["subject"] and row["score"] == want["score"]
    assert row["model_hash"] == want["modelHash"]
    assert row["feature_spec_hash"] == want["featureSpecHash"]
    assert row["request_id"] == RID
    assert row["cycles_total"] > 0 and row["segments"] >= 1


def test_recording_the_same_file_twice_is_one_row(proved: dict[str, Any]) -> None:
    store = receipt_store.open_default(proved["data"])
    try:
        doc = json.loads(proved["out"].read_text())
        first = store.record(proved["out"], doc)
        second = store.record(proved["out"], doc)
        assert first == second
        assert len(store.rows()) == 1
        assert len(store.rows(claim_digest=doc["claim_digest"].upper().replace("0X", "0x"))) == 1
        assert store.rows(claim_digest="0x" + "00" * 32) == []
    finally:
        store.close()


def test_a_journal_object_that_contradicts_journal_hex_is_refused(
    proved: dict[str, Any], tmp_path: Path
) -> None:
    doc = json.loads(proved["out"].read_text())
    doc["journal"]["score"] = (doc["journal"]["score"] + 1) % 10001
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    store = receipt_store.ReceiptStore(tmp_path / "r.sqlite")
    try:
        with pytest.raises(VerificationError, match=r"journal\.score"):
            store.record(bad, doc)
        assert store.rows() == []
    finally:
        store.close()


def test_file_checks_see_changed_and_missing_files(proved: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "copy.json"
    copy.write_bytes(proved["out"].read_bytes())
    store = receipt_store.ReceiptStore(tmp_path / "r.sqlite")
    try:
        store.record(copy, json.loads(copy.read_text()))
        (row,) = store.rows()
        assert store.check(row) == "ok"
        copy.write_bytes(copy.read_bytes() + b"\n")
        assert store.check(row) == "changed"
        copy.unlink()
        assert store.check(row) == "missing"
    finally:
        store.close()


def test_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    receipt_store.ReceiptStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        receipt_store.ReceiptStore(path)


def test_receipts_command_lists_and_no_record_skips(
    proved: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert coproc_main(["--data-dir", str(proved["data"]), "receipts", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in listed] == ["ok"]
    assert listed[0]["score"] == proved["want"]["score"]
    other = proved["tmp"] / "other-data"
    paths = proved["paths"]
    args = ["--data-dir", str(other), "prove", "--bundle", str(paths["bundle"])]
    args += ["--model", str(paths["model"]), "--spec", str(paths["spec"]), "--subject", SUBJECT]
    args += ["--dev", "--quiet", "--no-record", "--out", str(proved["tmp"] / "r2.json")]
    assert coproc_main(args) == 0
    capsys.readouterr()
    assert not (other / receipt_store.FILE_NAME).exists()
