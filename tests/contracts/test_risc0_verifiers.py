"""RISC Zero's own verifier contracts (crate risc0-ethereum-contracts, built by our forge)
on a real anvil: the Groth16 verifier 3.0 accepts the real test receipt the crate ships and
refuses every single-byte change of its seal, journal and image ID; the Python claim digest
is the one the real proof attests; the published deployment configs come from the crate's
deployment.toml; `coproc contracts deploy` points the oracle at the published router on a
published chain id (an anvil with Arbitrum One's id, RISC Zero's contracts placed at their
published addresses) and refuses a dev verifier anywhere but on a devnet."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from coprocessor.cli.main import main
from coprocessor.dev.devnet import DEFAULT_CHAIN_ID, AnvilNode, start_anvil, stop_pid
from coprocessor.errors import ToolError, UserInputError, VerificationError
from coprocessor.onchain import contracts, risc0_ethereum
from coprocessor.zk import prover, receipt_claim, router_seal

RECEIPT = risc0_ethereum.load_test_receipt()
#: a real Groth16 verification needs ~230k; a seal off the curve burns all gas it is given
VERIFY_GAS = 1_000_000
ARBITRUM_ONE = 42161


def _node(tmp: Path, name: str, chain_id: int) -> AnvilNode:
    contracts.build()
    return start_anvil(name, tmp, chain_id=chain_id, persist=False)


@pytest.fixture(scope="module")
def w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    node = _node(tmp_path_factory.mktemp("anvil-risc0"), "risc0", DEFAULT_CHAIN_ID)
    try:
        yield Web3(Web3.HTTPProvider(node.rpc))
    finally:
        stop_pid(node.pid)


def _groth16(w3: Web3) -> Contract:
    control = contracts.deploy(w3, "ControlID")
    root = control.functions.CONTROL_ROOT().call()
    bn254 = control.functions.BN254_CONTROL_ID().call()
    return contracts.deploy(w3, "RiscZeroGroth16Verifier", root, bn254)


@pytest.fixture(scope="module")
def groth16(w3: Web3) -> Contract:
    return _groth16(w3)


def _selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


def _accepts(w3: Web3, verifier: Contract, seal: bytes, image_id: bytes, journal: bytes) -> bool:
    """Whether ``verify`` returns (an eth_call; the verifier reverts on any failure)."""
    call = verifier.functions.verify(seal, image_id, hashlib.sha256(journal).digest())
    try:
        call.call({"gas": VERIFY_GAS})
    except Exception:  # any revert or out-of-gas is a refusal
        return False
    return True


def test_deployment_toml_parses_to_the_four_production_chains() -> None:
    chains = risc0_ethereum.production_chains()
    assert sorted(chains) == [1, 42161, 421614, 11155111]
    for chain in chains.values():
        assert Web3.is_checksum_address(chain.router)
        latest = chain.latest()
        assert latest.version == "3.0.0" and latest.selector == RECEIPT.seal[:4]
        assert not latest.stopped


def test_groth16_selector_is_the_published_one(groth16: Contract) -> None:
    published = risc0_ethereum.production_chains()[ARBITRUM_ONE].latest().selector
    assert groth16.functions.SELECTOR().call() == published == RECEIPT.seal[:4]


def test_real_receipt_accepted(w3: Web3, groth16: Contract) -> None:
    assert _accepts(w3, groth16, RECEIPT.seal, RECEIPT.image_id, RECEIPT.journal)


def test_python_claim_digest_is_the_one_the_real_proof_attests(groth16: Contract) -> None:
    digest = receipt_claim.ok_claim_digest(
        RECEIPT.image_id, hashlib.sha256(RECEIPT.journal).digest()
    )
    groth16.functions.verifyIntegrity((RECEIPT.seal, digest)).call({"gas": VERIFY_GAS})
    wrong = bytes([digest[0] ^ 1]) + digest[1:]
    with pytest.raises(ContractCustomError) as err:
        groth16.functions.verifyIntegrity((RECEIPT.seal, wrong)).call({"gas": VERIFY_GAS})
    assert err.value.data == _selector("VerificationFailed()")


def _flips(data: bytes) -> Iterator[tuple[int, bytes]]:
    for i in range(len(data)):
        yield i, data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def test_every_single_byte_change_refused(w3: Web3, groth16: Contract) -> None:
    accepted = [
        f"seal[{i}]"
        for i, seal in _flips(RECEIPT.seal)
        if _accepts(w3, groth16, seal, RECEIPT.image_id, RECEIPT.journal)
    ]
    accepted += [
        f"journal[{i}]"
        for i, journal in _flips(RECEIPT.journal)
        if _accepts(w3, groth16, RECEIPT.seal, RECEIPT.image_id, journal)
    ]
    accepted += [
        f"image_id[{i}]"
        for i, image in _flips(RECEIPT.image_id)
        if _accepts(w3, groth16, RECEIPT.seal, image, RECEIPT.journal)
    ]
    assert accepted == []
    assert len(RECEIPT.seal) == 260 and len(RECEIPT.journal) > 0


def test_dev_verifier_refused_on_non_devnet_chain_ids() -> None:
    risc0_ethereum.check_dev_verifier_allowed(DEFAULT_CHAIN_ID)
    for chain_id in (1, 5, 42161, 421614, 11155111):
        with pytest.raises(Exception, match="refusing to deploy a dev verifier"):
            risc0_ethereum.check_dev_verifier_allowed(chain_id)


def test_devnet_chain_ids_are_the_devnets() -> None:
    from bridge.devnet import L2_CHAIN_ID

    assert {DEFAULT_CHAIN_ID, L2_CHAIN_ID} == risc0_ethereum.DEVNET_CHAIN_IDS


def test_missing_crate_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match=r"missing: run scripts/setup\.sh"):
        risc0_ethereum.load_deployments(tmp_path / "deployment.toml")
    bad = tmp_path / "deployment.toml"
    bad.write_text('[chains.x]\nid = 1\nrouter = "0x12"\n')
    with pytest.raises(ToolError, match=r"chains.x.router: not an address"):
        risc0_ethereum.load_deployments(bad)


# --------------------------------------------------------------- a published chain, on anvil


def _place(w3: Web3, address: str, source: Contract, owner: str | None = None) -> None:
    """Put ``source``'s runtime code at ``address`` (and its Ownable owner, slot 0)."""
    code = w3.eth.get_code(source.address)
    w3.provider.make_request("anvil_setCode", [address, "0x" + bytes(code).hex()])  # type: ignore[arg-type]
    if owner is not None:
        slot0 = "0x" + bytes(12).hex() + owner[2:].lower()
        w3.provider.make_request("anvil_setStorageAt", [address, "0x0", slot0])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def arbitrum_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnvilNode, Web3]]:
    """An anvil with Arbitrum One's chain id and RISC Zero's router -> emergency stop ->
    Groth16 verifier 3.0 placed at the addresses deployment.toml publishes for it."""
    node = _node(tmp_path_factory.mktemp("anvil-arb1"), "arb1", ARBITRUM_ONE)
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        owner = w3.eth.accounts[0]
        published = risc0_ethereum.production_chains()[ARBITRUM_ONE]
        entry = published.latest()
        _place(w3, entry.verifier, _groth16(w3))
        estop = contracts.deploy(w3, "RiscZeroVerifierEmergencyStop", entry.verifier, owner)
        _place(w3, entry.estop, estop, owner)
        _place(w3, published.router, contracts.deploy(w3, "RiscZeroVerifierRouter", owner), owner)
        router = contracts.at(w3, "RiscZeroVerifierRouter", published.router)
        assert router.functions.owner().call() == owner
        tx = router.functions.addVerifier(entry.selector, entry.estop).transact({"from": owner})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        yield node, w3
    finally:
        stop_pid(node.pid)


def test_deploy_points_the_oracle_at_the_published_router(
    arbitrum_one: tuple[AnvilNode, Web3], capsys: pytest.CaptureFixture[str]
) -> None:
    node, w3 = arbitrum_one
    published = risc0_ethereum.production_chains()[ARBITRUM_ONE]
    argv = ["contracts", "deploy", "--rpc", node.rpc, "--image-id", "0x" + RECEIPT.image_id.hex()]
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["router"] == published.router and info["router_source"] == "published"
    assert info["dev_verifier"] is None and info["chain_id"] == ARBITRUM_ONE
    oracle = contracts.at(w3, "RiskOracle", info["oracle"])
    assert oracle.functions.verifier().call() == published.router
    assert oracle.functions.defaultImageId().call() == RECEIPT.image_id
    # the real receipt verifies through the oracle's router (router -> estop -> Groth16)...
    router = contracts.at(w3, "RiscZeroVerifierRouter", oracle.functions.verifier().call())
    assert _accepts(w3, router, RECEIPT.seal, RECEIPT.image_id, RECEIPT.journal)
    # ...and a dev seal is refused: only Groth16 is routed there
    dev_seal = receipt_claim.dev_seal(RECEIPT.image_id, RECEIPT.journal)
    assert not _accepts(w3, router, dev_seal, RECEIPT.image_id, RECEIPT.journal)
    with pytest.raises(ContractCustomError) as err:
        router.functions.verify(
            dev_seal, RECEIPT.image_id, hashlib.sha256(RECEIPT.journal).digest()
        ).call()
    assert err.value.data == _selector("SelectorUnknown(bytes4)") + "ffffffff" + "00" * 28


def test_deploy_refuses_a_dev_verifier_on_a_published_chain(
    arbitrum_one: tuple[AnvilNode, Web3], capsys: pytest.CaptureFixture[str]
) -> None:
    node, w3 = arbitrum_one
    before = w3.eth.get_transaction_count(w3.eth.accounts[0])
    argv = ["contracts", "deploy", "--rpc", node.rpc, "--image-id", "0x" + "ab" * 32]
    assert main([*argv, "--verifier", "dev"]) == 2
    err = capsys.readouterr().err
    assert "chain id 42161 is not a devnet" in err and err.count("\n") == 1
    assert w3.eth.get_transaction_count(w3.eth.accounts[0]) == before  # nothing sent


def test_deploy_refuses_an_unknown_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = _node(tmp_path, "chain5", 5)
    try:
        argv = ["contracts", "deploy", "--rpc", node.rpc, "--image-id", "0x" + "ab" * 32]
        assert main(argv) == 2
        assert "chain id 5 is not a devnet" in capsys.readouterr().err
        assert main([*argv, "--verifier", "published"]) == 2
        assert "chain id 5: no published RISC Zero router" in capsys.readouterr().err
    finally:
        stop_pid(node.pid)


def test_networks_prints_the_generated_configs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "networks"]) == 0
    configs = {c["chain_id"]: c for c in json.loads(capsys.readouterr().out)}
    toml = risc0_ethereum.load_deployments()
    assert configs[42161]["router"] == toml["arbitrum-mainnet"].router
    assert configs[1]["groth16_selector"] == "0x" + RECEIPT.seal[:4].hex()


# --------------------------------------------------------------- receipts to router seals


def _groth16_receipt_doc(seal: bytes = RECEIPT.seal) -> dict[str, object]:
    """The real test receipt in the form coproc-host writes a Groth16 receipt (only the
    fields the on-chain path reads; ``seal_hex`` unprefixed, as the host writes it)."""
    return {
        "format": "coproc-receipt",
        "version": 1,
        "dev_mode": False,
        "prover": "bonsai",
        "receipt_kind": "groth16",
        "image_id": "0x" + RECEIPT.image_id.hex(),
        "journal_hex": RECEIPT.journal.hex(),
        "claim_digest": "0x"
        + receipt_claim.ok_claim_digest(
            RECEIPT.image_id, hashlib.sha256(RECEIPT.journal).digest()
        ).hex(),
        "seal_hex": seal.hex(),
    }


@pytest.fixture(scope="module")
def groth16_router(w3: Web3, groth16: Contract) -> Contract:
    owner = w3.eth.accounts[0]
    router = contracts.deploy(w3, "RiscZeroVerifierRouter", owner)
    selector = groth16.functions.SELECTOR().call()
    tx = router.functions.addVerifier(selector, groth16.address).transact({"from": owner})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return router


def test_groth16_receipt_seal_accepted_by_the_router(w3: Web3, groth16_router: Contract) -> None:
    doc = _groth16_receipt_doc()
    seal = router_seal.router_seal(doc)
    assert seal == RECEIPT.seal
    image = bytes.fromhex(str(doc["image_id"])[2:])
    groth16_router.functions.verify(seal, image, router_seal.journal_digest(doc)).call(
        {"gas": VERIFY_GAS}
    )


def test_router_seal_refusals() -> None:
    unpublished = b"\x01\x02\x03\x04" + RECEIPT.seal[4:]
    with pytest.raises(VerificationError, match="selector 0x01020304 is no published"):
        router_seal.router_seal(_groth16_receipt_doc(unpublished))
    with pytest.raises(VerificationError, match="259 bytes, not 260"):
        router_seal.router_seal(_groth16_receipt_doc(RECEIPT.seal[:-1]))
    composite = dict(_groth16_receipt_doc(), receipt_kind="composite", seal_hex=None)
    with pytest.raises(UserInputError, match="composite receipt has no on-chain form"):
        router_seal.router_seal(composite)
    dev = receipt_claim.dev_seal(RECEIPT.image_id, RECEIPT.journal)
    fake = dict(_groth16_receipt_doc(), receipt_kind="fake", seal_hex=dev.hex())
    assert router_seal.router_seal(fake) == dev
    fake["journal_hex"] = (RECEIPT.journal + b"!").hex()
    with pytest.raises(VerificationError, match="dev seal is not"):
        router_seal.router_seal(fake)


def test_prove_groth16_prints_the_router_seal(
    w3: Web3,
    groth16_router: Contract,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`coproc prove --receipt-kind groth16` with coproc-host's answer stood in by the real
    test receipt in the host's form (a real remote Groth16 proof of our guest needs a
    prover this machine cannot reach): the printed router_seal verifies on anvil."""
    asked: list[str] = []

    def fake_prove(request: object, out: str, **kw: object) -> dict[str, object]:
        asked.append(str(kw["receipt_kind"]))
        doc = _groth16_receipt_doc()
        Path(out).write_text(json.dumps(doc))
        return dict(doc, receipt_file=str(out))

    monkeypatch.setattr(prover, "prove", fake_prove)
    out = tmp_path / "receipt.json"
    argv = ["prove", "--bundle", "b", "--model", "m", "--spec", "s", "--subject", "0x" + "11" * 20]
    argv += ["--out", str(out), "--receipt-kind", "groth16", "--no-record", "--quiet"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert asked == ["groth16"]
    seal = bytes.fromhex(summary["router_seal"][2:])
    assert seal[:4] == risc0_ethereum.production_chains()[ARBITRUM_ONE].latest().selector
    groth16_router.functions.verify(
        seal, RECEIPT.image_id, hashlib.sha256(RECEIPT.journal).digest()
    ).call({"gas": VERIFY_GAS})
