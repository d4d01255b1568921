"""Shared pieces of the service tests (no tests here): a small real model and feature
spec, a devnet with the contracts deployed, test provers (plugged in through the
service's ``Prover`` protocol), and a running in-process service."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from service_backends import Backend
from web3 import Web3
from web3.types import Wei

from coprocessor.chain.bundle import parse_bundle, verify_bundle
from coprocessor.dev.devnet import DEFAULT_CHAIN_ID, AnvilNode, start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models import reference
from coprocessor.scoring.models.model import Model
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import prover, receipt_claim
from coprocessor.zk.prover import ProveRequest

IMAGE_ID = Web3.keccak(text="coproc service test image")
PASSWORD_ENV = "COPROC_TEST_KEYSTORE_PASSWORD"
POSTER_ENV = "COPROC_TEST_POSTER_KEY"
#: anvil's dev accounts 8 and 9 (the test signs with 9, posts with 8)
OPERATOR_KEY = bytes.fromhex("2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6")
POSTER_KEY = bytes.fromhex("dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97")
WEIGHTS = (-200_000, 3_000)  # Q16: balance (in 10^4 ETH) and nonce
BIAS = 131_072

SPEC = {
    "format": "coproc-features",
    "version": 1,
    "name": "svc-test",
    "features": [
        {"name": "eth", "read": {"kind": "balance", "address": "$subject"}, "decimals": 22},
        {"name": "nonce", "read": {"kind": "nonce", "address": "$subject"}},
    ],
}
MODEL_JSON = {
    "format": "coproc-model",
    "version": 1,
    "name": "svc-test",
    "scale_bits": 16,
    "input_dim": 2,
    "layers": [
        {"op": "dense", "in": 2, "out": 1, "weights": [list(WEIGHTS)], "bias": [BIAS]},
        {"op": "sigmoid"},
        {"op": "to_bps"},
    ],
}


def model() -> Model:
    return fmt.from_json(MODEL_JSON)


def model_hash() -> bytes:
    return model().hash()


def spec_hash() -> bytes:
    return features.spec_hash(features.normalize(SPEC))


def write_models(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "svc-test.json").write_text(json.dumps(MODEL_JSON))
    (directory / "svc-test.features.json").write_text(json.dumps(SPEC))
    return directory


def expected_score(w3: Web3, subject: str, block: int) -> int:
    """The score computed without the service: plain RPC reads, features by hand, the
    model through the reference implementation (the specification)."""
    address = Web3.to_checksum_address(subject)
    balance = w3.eth.get_balance(address, block_identifier=block)
    nonce = w3.eth.get_transaction_count(address, block_identifier=block)
    vector = [balance * 65536 // 10**22, nonce * 65536]
    return reference.score(model(), vector)


# ------------------------------------------------------------------ provers


class FakeProver:
    """A test double of the zkVM: verifies the bundle, computes the journal in Python and
    seals it the way RISC0_DEV_MODE does (``0xFFFFFFFF ‖ claim digest``)."""

    delay = float(os.environ.get("COPROC_TEST_PROVE_DELAY", "0"))
    lie = 0
    calls = 0

    def prove(self, request: ProveRequest, dev: bool, *, on_progress: Any = None) -> dict[str, Any]:
        bundle = json.loads(request.bundle.read_text())
        model, spec = fmt.load(request.model), features.load(request.spec)
        subject, block = request.subject, request.block
        assert request.request_id is not None
        request_id = bytes.fromhex(request.request_id[2:])
        type(self).calls += 1
        if on_progress is not None:
            on_progress({"event": "start", "prover": "fake"})
        if self.delay:
            time.sleep(self.delay)
        verified = verify_bundle(parse_bundle(bundle))
        vector = features.compute(spec, verified.to_json(), subject, block)
        score = reference.score(model, list(vector.values)) + self.lie
        journal = journal_v1.encode(
            {
                "version": 1,
                "chainId": verified.bundle.chain_id,
                "anchorNumber": verified.anchor.number,
                "anchorHash": verified.anchor.hash,
                "blockNumber": vector.block,
                "subject": subject,
                "modelHash": model.hash(),
                "featureSpecHash": features.spec_hash(spec),
                "score": score,
                "requestId": request_id,
            }
        )
        seal = receipt_claim.dev_seal(IMAGE_ID, journal)
        return {
            "format": "coproc-receipt",
            "version": 1,
            "dev_mode": True,
            "receipt_kind": "fake",
            "image_id": IMAGE_ID.hex(),
            "journal_hex": journal.hex(),
            "seal_hex": seal.hex(),
            "cycles": {"total": 1},
        }


class LyingProver(FakeProver):
    """Proves a score one basis point off: what a sampled mismatch looks like."""

    lie = 1


def fake_prover() -> FakeProver:
    return FakeProver()


# ------------------------------------------------------------------ chain


@dataclass
class Chain:
    node: AnvilNode
    w3: Web3
    oracle: str
    signed_scores: str


def start_chain(workdir: Path, name: str = "svc", chain_id: int = DEFAULT_CHAIN_ID) -> Chain:
    """anvil + dev verifier + router + RiskOracle (test model registered) + SignedScores,
    the operator bonded."""
    contracts.build()
    node = start_anvil(name, workdir, chain_id=chain_id, persist=False)
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        stack = contracts.deploy_dev_stack(
            w3, image_id=IMAGE_ID, models={model_hash(): spec_hash()}, min_bond=10**18
        )
        signed = contracts.at(w3, "SignedScores", stack.signed_scores)
        operator = Account.from_key(OPERATOR_KEY).address
        tx = signed.functions.register(operator).transact(
            {"from": w3.eth.accounts[0], "value": Wei(10**18)}
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        w3.provider.make_request("anvil_mine", [3])  # type: ignore[arg-type]
        return Chain(node, w3, stack.oracle, stack.signed_scores)
    except BaseException:
        stop_pid(node.pid)
        raise


def operator_keystore(tmp: Path) -> Path:
    """The operator's keystore under ``tmp`` (written once), its password in the env."""
    from coprocessor.service.signer import write_keystore

    keystore = tmp / "operator.keystore.json"
    if not keystore.exists():
        write_keystore(keystore, OPERATOR_KEY, "test password")
    os.environ[PASSWORD_ENV] = "test password"
    return keystore


def service_config(chain: Chain, tmp: Path, **extra: Any) -> dict[str, Any]:
    """A config dict (keystore written under ``tmp``) and the env it needs."""
    keystore = operator_keystore(tmp)
    os.environ[POSTER_ENV] = "0x" + POSTER_KEY.hex()
    cfg: dict[str, Any] = {
        "rpc_url": chain.node.rpc,
        "models_dir": str(write_models(tmp / "models")),
        "keystore": str(keystore),
        "keystore_password_env": PASSWORD_ENV,
        "signed_scores": chain.signed_scores,
        "oracle": chain.oracle,
        "poster_key_env": POSTER_ENV,
        "prover": "import:service_support:fake_prover",
        "lease_seconds": 3.0,
        "backoff_seconds": 0.2,
        "backoff_max_seconds": 1.0,
        "poll_seconds": 0.05,
    }
    cfg.update(extra)
    return cfg


def guest_config(rpc: str, models: Path, tmp: Path, **extra: Any) -> dict[str, Any]:
    """A config of a service over ``rpc`` serving the models in ``models``: signing (the
    keystore under ``tmp``; the EIP-712 domain's contract only, nothing is posted) and
    proving by the real guest in dev mode."""
    cfg: dict[str, Any] = {
        "rpc_url": rpc,
        "models_dir": str(models),
        "keystore": str(operator_keystore(tmp)),
        "keystore_password_env": PASSWORD_ENV,
        "signed_scores": "0x" + "5c" * 20,
        "prover": "zkvm",
        "dev_proofs": True,
        "lease_seconds": 10.0,
        "backoff_seconds": 0.2,
        "backoff_max_seconds": 1.0,
        "poll_seconds": 0.05,
    }
    cfg.update(extra)
    return cfg


# ------------------------------------------------------------------ a running service


class LiveService:
    """The service (HTTP + workers) on a real loopback port, in a background thread
    with its own event loop (``coprocessor.service.server.Background``)."""

    def __init__(self, config: dict[str, Any], data_dir: Path, seed: int | None = 7) -> None:
        from coprocessor.service.config import load_config
        from coprocessor.service.server import Background

        self.config = load_config(None, config)
        self.data_dir = data_dir
        self.background = Background(self.config, data_dir, seed=seed).start()
        self.port = self.background.port
        self.url = self.background.url
        self.runtime: Any = self.background.runtime

    @property
    def backend(self) -> Backend:
        """The database this service uses (its config's, or the suite's default then)."""
        url = self.config.database_url
        return Backend("postgres" if url.startswith("postgres") else "sqlite", url, self.data_dir)

    def call(self, coro: Any) -> Any:
        return self.background.call(coro)

    def stop(self) -> None:
        self.background.stop()

    def add_key(self, name: str = "test", rate: float = 1000.0, burst: int = 1000) -> str:
        return self.background.add_key(name, rate, burst)


def serve(config: dict[str, Any], data_dir: Path) -> Iterator[LiveService]:
    """A fixture's body: the service running until the test is done."""
    live = LiveService(config, data_dir)
    try:
        yield live
    finally:
        live.stop()


def _free_port() -> int:
    from coprocessor.dev.devnet import free_port

    return free_port()


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (status, headers, body), 4xx/5xx included."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def chain_fixture(tmp: Path, name: str) -> Iterator[Chain]:
    chain = start_chain(tmp, name)
    try:
        yield chain
    finally:
        stop_pid(chain.node.pid)


def guest_chain_fixture(tmp: Path, name: str, subject: str) -> Iterator[Chain]:
    """anvil + the dev stack verifying the built guest's image ID (test model
    registered, no operator bond), ``subject`` having sent 777 ETH (its history)."""
    image_id = bytes.fromhex(prover.host_image_id()[2:])
    contracts.build()
    node = start_anvil(name, tmp, persist=False)
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc))
        stack = contracts.deploy_dev_stack(
            w3, image_id=image_id, models={model_hash(): spec_hash()}
        )
        tx = w3.eth.send_transaction(
            {
                "from": Web3.to_checksum_address(subject),
                "to": list(w3.eth.accounts)[6],
                "value": Wei(777 * 10**18),
            }
        )
        w3.eth.wait_for_transaction_receipt(tx)
        yield Chain(node, w3, stack.oracle, stack.signed_scores)
    finally:
        stop_pid(node.pid)
