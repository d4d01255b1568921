"""``coproc contracts``: dev seals and a local deployment, through the real CLI entry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from anvil_support import anvil_fixture
from web3 import Web3

from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode, free_port
from coprocessor.zk import receipt_claim

IMAGE = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    yield from anvil_fixture(tmp_path_factory.mktemp("anvil-cli"), "contracts-cli")


def test_dev_seal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "dev-seal", "--image-id", IMAGE, "0x0102"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "0x" + receipt_claim.dev_seal(bytes.fromhex("ab" * 32), b"\x01\x02").hex()


@pytest.mark.parametrize(
    "argv",
    [
        ["contracts", "dev-seal", "--image-id", "0x12", "0x00"],
        ["contracts", "dev-seal", "--image-id", IMAGE, "zz"],
        ["contracts", "deploy", "--rpc", "http://127.0.0.1:1", "--image-id", "0x00"],
        [
            "contracts",
            "deploy",
            "--rpc",
            "http://127.0.0.1:1",
            "--image-id",
            IMAGE,
            "--model",
            "0x1",
        ],
    ],
)
def test_bad_input_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("coproc: error:") and err.count("\n") == 1


def test_unreachable_node(capsys: pytest.CaptureFixture[str]) -> None:
    rpc = f"http://127.0.0.1:{free_port()}"
    assert main(["contracts", "deploy", "--rpc", rpc, "--image-id", IMAGE]) == 2
    err = capsys.readouterr().err
    assert "does not answer" in err and err.count("\n") == 1


def test_deploy_local_stack(node: AnvilNode, capsys: pytest.CaptureFixture[str]) -> None:
    model, spec = "0x" + "01" * 32, "0x" + "02" * 32
    argv = ["contracts", "deploy", "--rpc", node.rpc, "--image-id", IMAGE]
    assert main([*argv, "--model", f"{model}:{spec}"]) == 0
    info = json.loads(capsys.readouterr().out)
    w3 = Web3(Web3.HTTPProvider(node.rpc))
    for key in ("dev_verifier", "router", "oracle", "signed_scores"):
        assert len(w3.eth.get_code(info[key])) > 0, key
    from coprocessor.onchain import contracts

    oracle = contracts.at(w3, "RiskOracle", info["oracle"])
    assert oracle.functions.defaultImageId().call() == bytes.fromhex("ab" * 32)
    assert oracle.functions.featureSpecOf(bytes.fromhex("01" * 32)).call() == bytes.fromhex(
        "02" * 32
    )
