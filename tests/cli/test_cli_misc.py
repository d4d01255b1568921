"""CLI edge cases of the data directory and the devnet record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coprocessor.cli.main import main


def test_damaged_devnet_record_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devnet = tmp_path / "devnet"
    devnet.mkdir()
    (devnet / "devnet.json").write_text(json.dumps({"l1": {"rpc": "http://127.0.0.1:1"}}))
    assert main(["--data-dir", str(tmp_path), "devnet", "status"]) == 1
    assert json.loads(capsys.readouterr().out)["l1"]["running"] is False


def test_data_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["--data-dir", str(target), "devnet", "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coproc: error: data directory") and "Traceback" not in err


def test_index_timeout_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--data-dir",
            str(tmp_path),
            "index",
            "--rpc",
            "http://127.0.0.1:1",
            "--block",
            "1",
            "--address",
            "0x" + "11" * 20,
            "--timeout",
            "0",
            "--out",
            str(tmp_path / "b.json"),
        ]
    )
    assert code == 2
    assert "--timeout" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_bundle_chain_id_fits_uint64(shared_vectors: Path) -> None:
    from coprocessor.chain.bundle import ProofAtBlock, build_bundle, parse_bundle
    from coprocessor.chain.headers import encode_header_json
    from coprocessor.errors import UserInputError

    header = json.loads((shared_vectors / "headers" / "cancun_21925176.json").read_text())
    proof = json.loads((shared_vectors / "proofs" / "cancun_21925176_miner_eoa.json").read_text())[
        "proof"
    ]
    bundle = build_bundle(
        1, [encode_header_json(header)], [ProofAtBlock(int(header["number"], 16), proof)]
    ).bundle.to_json()
    parse_bundle(dict(bundle, chain_id=2**64 - 1))
    with pytest.raises(UserInputError, match="2\\^64"):
        parse_bundle(dict(bundle, chain_id=2**64))
