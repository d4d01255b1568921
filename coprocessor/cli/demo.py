"""The main job on embedded defaults (``make demo`` → ``coproc demo``).

End to end, on a fresh two-chain devnet in ``<data dir>/demo`` (wiped at start):

1. the demo markets (``coprocessor.dev.markets.demo_market``, cached per machine, built
   in about a minute the first time): the real Aave v3 and Morpho Blue deployed from
   their npm packages, four Aave and four Morpho borrowers (two per market) through a
   seeded simulation with a price crash; L1 = an anvil serving that chain, then the real
   nitro Bridge/Inbox/Outbox on it, emulated ArbOS on L2, the block-hash pusher/store,
   the L2 RiskOracle, the relay (``bridge.devnet``);
2. model v2 over spec reads, ``lending-risk-v2-spec`` (docs/models.md: gradient-boosted
   trees over each borrower's Aave account and Morpho positions), with its feature spec
   for this deployment (``demo_market.spec_for``), registered on the L2 oracle with the
   guest's image ID; SignedScores on L2 with a bonded operator key (encrypted keystore);
3. the service in-process, batching (``batch_max_size`` = the number of borrowers): for
   each borrower, ``POST /v1/scores`` at the markets' last sampled block with mode
   ``both`` and destination ``l2`` — index + verify (the protocol reads' slots), score,
   EIP-712 sign; then the jobs' subjects, Aave and Morpho borrowers alike, are proven
   together in ONE batch receipt (batch journal v1, ``coproc-host prove --subjects``;
   dev mode by default: real execution, fake seal; ``--prove`` for real local proofs,
   which the dev verifier on L2 cannot accept: those jobs fail at posting); then post:
   the service pushes the anchor's L1 block hash to L2 through the bridge (retryable
   ticket), submits the batch (``submitBatch``) and stores every leaf (``storeLeaves``)
   on the L2 RiskOracle, each once;
4. the example consumer refreshes each borrower's max LTV from the stored score, and an
   on-chain request on L2 (``RiskRequests`` with a callback) is answered by the service;
5. a table (subject, protocol, health factor, journal/signed/on-chain score, block,
   proof kind, tx), exit 0 only if the three scores agree for every subject (the journal
   score is the subject's leaf, checked against the batch journal's results root with
   its proof) and all share one batch receipt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.dev.devnet import Devnet
from coprocessor.dev.markets import demo_market
from coprocessor.errors import ToolError
from coprocessor.paths import REPO_ROOT
from coprocessor.zk import batch_journal

MODEL = demo_market.MODEL
ANCESTORS = 2
PASSWORD_ENV = "COPROC_KEYSTORE_PASSWORD"
#: the service's poster key (L1 anchor pushes, L2 submits): dev account 2, its own
POSTER_ENV = "COPROC_DEMO_POSTER_KEY"
POSTER_ACCOUNT = 2
#: the fee of the demo's on-chain request (wei), and the pool's "position open" state
REQUEST_PRICE = 10**15
POSITION_OPEN = 2
#: seconds between L1 blocks while the service runs (anvil mines only on transactions)
L1_BLOCK_SECONDS = 1.0


@dataclass(frozen=True)
class DemoRow:
    """One subject's line of the demo table."""

    subject: str
    protocol: str
    health_factor_q16: int
    block: int
    anchor: int
    journal_score: int
    signed_score: int
    onchain_score: int
    max_ltv_bps: int
    dev_mode: bool
    tx: str
    batch: str = ""
    leaf_index: int = -1
    cycles: int = 0
    user_cycles: int = 0

    @property
    def ok(self) -> bool:
        """The proven, signed and stored scores agree."""
        return self.journal_score == self.signed_score == self.onchain_score


def _say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def _fresh_devnet(root: Path, markets: Path) -> dict[str, Any]:
    """L1 serving the cached markets, then the L2, the bridge contracts and the relay."""
    from bridge.devnet import up_l2

    stop_demo_devnet(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    from bridge.chain import dev_account
    from coprocessor.dev.devnet import DEV_ACCOUNTS

    devnet = Devnet(root)
    fund = [dev_account(i).address for i in range(DEV_ACCOUNTS)]
    node = demo_market.start_demo_node(markets, devnet.dir, fund)
    devnet.file.write_text(json.dumps({"l1": node.to_json()}, indent=2))
    devnet.up()  # finds the running node and records it
    return up_l2(devnet)


def run_demo(data_dir: Path, prove: bool = False, keep: bool = False) -> list[DemoRow]:
    """Run the demo in ``data_dir/demo``; returns one row per subject. The devnet is
    stopped at the end unless ``keep``."""
    try:
        return _run(data_dir, prove, keep)
    finally:
        if not keep:
            stop_demo_devnet(data_dir / "demo")


def stop_demo_devnet(root: Path) -> None:
    """Stop the demo's nodes and relay (state files stay for inspection)."""
    from bridge.devnet import load, stop_relay

    with contextlib.suppress(ToolError):
        stop_relay(load(root))
    Devnet(root).down()


def _run(data_dir: Path, prove: bool, keep: bool = False) -> list[DemoRow]:
    from eth_account import Account
    from web3 import Web3

    from bridge.chain import dev_account
    from coprocessor.onchain import contracts
    from coprocessor.scoring import features
    from coprocessor.scoring.models import model as model_format
    from coprocessor.service.client import Client
    from coprocessor.service.config import load_config
    from coprocessor.service.server import Background
    from coprocessor.zk import prover

    root = data_dir / "demo"
    _say("the demo markets: Aave v3 and Morpho Blue with a simulated history (cached per")
    _say("machine; the first build takes about a minute)...")
    markets, meta = demo_market.ensure_demo_markets(_say)
    block = demo_market.demo_block(meta)
    _say(
        f"starting the two-chain devnet: L1 = the markets (head {meta['head']}), nitro "
        "Bridge/Inbox/Outbox, L2 with ArbOS emulated, relay..."
    )
    info = _fresh_devnet(root, markets)
    l1_url, l2_url = info["l1"]["rpc"], info["l2"]["rpc"]
    addresses = info["contracts"]

    models_dir = root / "models"
    models_dir.mkdir()
    model = model_format.load(REPO_ROOT / "models" / f"{MODEL}.json")
    spec = features.normalize(demo_market.spec_for(meta))
    model_hash = model.hash()
    spec_hash = features.spec_hash(spec)
    # the committed model, paired with the spec for this deployment's addresses (meta is
    # not hashed: the model hash stays the committed one)
    model_json = json.loads((REPO_ROOT / "models" / f"{MODEL}.json").read_text())
    model_json.setdefault("meta", {})["feature_spec_hash"] = "0x" + spec_hash.hex()
    (models_dir / f"{MODEL}.json").write_text(json.dumps(model_json, indent=1))
    (models_dir / f"{MODEL}.features.json").write_text(json.dumps(spec.to_json(), indent=1))

    l2 = Web3(Web3.HTTPProvider(l2_url))
    owner = dev_account(1)
    image_id = bytes.fromhex(prover.host_image_id()[2:])
    oracle = contracts.at(l2, "RiskOracle", addresses["l2_risk_oracle"])
    _send(l2, owner, oracle.functions.allowImageId(image_id, True))
    _send(l2, owner, oracle.functions.registerModel(model_hash, spec_hash))
    signed_scores = contracts.deploy(
        l2, "SignedScores", oracle.address, 10**18, 3600, sender=owner.address
    )
    consumer = contracts.deploy(
        l2, "ExampleLendingPool", oracle.address, model_hash, 7200, 8000, sender=owner.address
    )
    # on-chain requests on L2: the callback pool asks RiskRequests, the service listens
    requests = contracts.deploy(
        l2, "RiskRequests", owner.address, oracle.address, 3600, 500_000, sender=owner.address
    )
    _send(l2, owner, requests.functions.offerModel(model_hash, REQUEST_PRICE))
    callback_pool = contracts.deploy(
        l2, "CallbackLendingPool", requests.address, model_hash, spec_hash, 8000, 100_000,
        sender=owner.address,
    )  # fmt: skip
    operator = Account.create()
    password = os.environ.get(PASSWORD_ENV) or "coproc-demo"
    os.environ[PASSWORD_ENV] = password
    keystore = root / "operator.keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(operator.key, password)))
    _send(l2, owner, signed_scores.functions.register(operator.address), value=10**18)
    os.environ[POSTER_ENV] = "0x" + bytes(dev_account(POSTER_ACCOUNT).key).hex()

    config = load_config(
        None,
        {
            "rpc_url": l1_url,
            "models_dir": str(models_dir),
            "ancestors": ANCESTORS,
            "keystore": str(keystore),
            "signed_scores": signed_scores.address,
            "signing_chain_id": l2.eth.chain_id,
            "prover": "zkvm",
            "dev_proofs": not prove,
            "poster_key_env": POSTER_ENV,
            "l2_network": "devnet",
            "l2_devnet_dir": str(root),
            "request_chains": [
                {
                    "name": "l2",
                    "rpc_url": l2_url,
                    "requests": requests.address,
                    "confirmations": 0,
                    "poll_seconds": 0.2,
                    "start_block": l2.eth.block_number,
                }
            ],
        },
    )
    borrowers = {str(b["address"]).lower(): b for b in meta["borrowers"]}
    subjects = list(borrowers)
    # one batch receipt for all: jobs of one block, the batch closed once all joined
    config = dataclasses.replace(
        config, batch_max_size=len(subjects), batch_wait_seconds=120.0
    ).validate()
    rows: list[DemoRow] = []
    _say(
        f"service up; requesting scores for {len(subjects)} borrowers (Aave v3 and Morpho "
        f"Blue) at block {block} "
        "(mode both, destination l2: the service proves them in one batch receipt, "
        "bridges the anchor and posts the batch)..."
    )
    with Background(config, root / "service") as service, _L1Blocks(l1_url):
        key = service.add_key("demo")
        client = Client(service.url, key)
        jobs = [
            client.request_score(
                Web3.to_checksum_address(s), MODEL, mode="both", destination="l2", block=block
            )["id"]
            for s in subjects
        ]
        for subject, job_id in zip(subjects, jobs, strict=True):
            client.wait(job_id, timeout=900)
            result = client.score(Web3.to_checksum_address(subject), MODEL)
            client.verify_signed(result, operator.address)
            journal = bytes.fromhex(result["journal"][2:])
            decoded, leaf = _batch_leaf(journal, result)
            if not result.get("seal"):
                raise ToolError(
                    "the receipt has no on-chain seal (composite receipts are off-chain only)"
                )
            tx = (result.get("tx_hashes") or {}).get("l2")
            if not tx:
                raise ToolError(f"{subject}: the service did not post to L2")
            push = result.get("anchor_push") or {}
            _say(
                f"{subject}: anchor {decoded['anchorNumber']} on L2 ({push.get('status')}), "
                f"receipt posted in {tx[:18]}…"
            )
            _send(l2, owner, consumer.functions.refreshMaxLtv(Web3.to_checksum_address(subject)))
            stored = oracle.functions.scoreOf(Web3.to_checksum_address(subject), model_hash).call()
            ltv = consumer.functions.maxLtvBpsOf(Web3.to_checksum_address(subject)).call()
            rows.append(
                DemoRow(
                    subject=Web3.to_checksum_address(subject),
                    protocol=_protocol(borrowers[subject]),
                    health_factor_q16=_health_factor(result, spec),
                    block=leaf.block_number,
                    anchor=int(decoded["anchorNumber"]),
                    journal_score=leaf.score,
                    signed_score=int(result["score"]),
                    onchain_score=int(stored[0]),
                    max_ltv_bps=int(ltv),
                    dev_mode=bool(result.get("dev_mode")),
                    tx=str(tx),
                    batch=str(result["batch"]["results_root"]),
                    leaf_index=int(result["batch"]["leaf_index"]),
                    cycles=_cycles(result),
                    user_cycles=_cycles(result, "user"),
                )
            )
        _onchain_request(l2, owner, requests, callback_pool)
        if keep:
            _keep_serving(service.url, key, rows)
    if len({r.batch for r in rows}) != 1:
        raise ToolError(f"expected one batch receipt, the subjects were proven in {len(rows)}")
    _say(
        f"{len(rows)} subjects proven in one batch receipt (results root {rows[0].batch[:18]}…, "
        f"{rows[0].cycles:,} guest cycles)"
    )
    return rows


def _onchain_request(l2: Any, borrower: Any, requests: Any, pool: Any) -> None:
    """A borrower opens a position on the L2 callback pool: its request event becomes a
    job of the listening service, proven and fulfilled; the callback sets the LTV."""
    import time

    _say("on-chain: a borrower opens a position on L2 (RiskRequests.request with a callback)...")
    receipt = _send(l2, borrower, pool.functions.openPosition(), value=REQUEST_PRICE)
    from web3.logs import DISCARD

    requested = requests.events.ScoreRequested().process_receipt(receipt, errors=DISCARD)
    event = requested[0]["args"]
    request_id = "0x" + bytes(event["requestId"]).hex()
    started = time.monotonic()
    while pool.functions.positionOf(borrower.address).call()[0] != POSITION_OPEN:
        if time.monotonic() - started > 900:
            raise ToolError(f"on-chain request {request_id} was not answered within 900 s")
        time.sleep(0.5)
    _, ltv, score, _ = pool.functions.positionOf(borrower.address).call()
    fulfilled = requests.events.RequestFulfilled.get_logs(
        from_block=receipt["blockNumber"], argument_filters={"requestId": event["requestId"]}
    )
    _say(
        f"on-chain request {request_id[:18]}…: event -> job -> proof -> fulfil "
        f"{'0x' + bytes(fulfilled[0]['transactionHash']).hex()[:16]}… -> callback: "
        f"score {score}, LTV {ltv} bps ({time.monotonic() - started:.1f} s)"
    )


def _keep_serving(url: str, key: str, rows: list[DemoRow]) -> None:
    """``--keep``: the service (and its explorer at ``/``) runs on until Ctrl-C."""
    _say(render_table(rows))
    print(f"explorer: {url}/#key={key}", flush=True)
    _say("the service keeps running with the explorer at the URL above; Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def _batch_leaf(journal: bytes, result: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The batch journal's fields and this subject's leaf, its proof checked against
    the journal's results root."""
    from coprocessor.service.batching import batch_journal_leaf

    b = result.get("batch")
    if not isinstance(b, dict):
        raise ToolError(f"{result.get('subject')}: the result was not proven in a batch")
    leaf = batch_journal_leaf(b["leaf"])
    proof = [bytes.fromhex(p[2:]) for p in b["proof"]]
    batch_journal.check_leaf(journal, leaf, int(b["leaf_index"]), proof)
    if leaf.score != result["score"] or leaf.subject != str(result["subject"]).lower():
        raise ToolError(f"{result.get('subject')}: the leaf is not the signed result")
    return batch_journal.decode_batch(journal), leaf


class _L1Blocks:
    """A block on L1 every ``L1_BLOCK_SECONDS`` while the service runs, as a real chain
    makes them: the service can push an anchor's hash only once L1 has passed it."""

    def __init__(self, url: str) -> None:
        from web3 import Web3

        self.w3 = Web3(Web3.HTTPProvider(url))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(L1_BLOCK_SECONDS):
            with contextlib.suppress(Exception):  # the node going away ends the demo anyway
                self.w3.provider.make_request("anvil_mine", [1])  # type: ignore[arg-type]

    def __enter__(self) -> _L1Blocks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _protocol(borrower: dict[str, Any]) -> str:
    """``aave`` or ``morpho WETH/USDC`` (markets.json's borrower record)."""
    return "aave" if borrower["protocol"] == "aave" else f"morpho {borrower['market']}"


def _health_factor(result: dict[str, Any], spec: Any) -> int:
    """The signed result's ``health_factor`` feature (Q16), if the service returned the
    feature vector, else -1."""
    vector = result.get("features")
    if isinstance(vector, dict):
        vector = vector.get("vector")
    if not isinstance(vector, list) or len(vector) != len(spec.names):
        return -1
    return int(vector[list(spec.names).index("health_factor")])


def _cycles(result: dict[str, Any], kind: str = "total") -> int:
    """The guest's ``kind`` (total or user) cycles of the result's (batch) receipt, as the
    service records them (``proof.cycles``, the host's counts); 0 if absent."""
    cycles = (result.get("proof") or {}).get("cycles")
    value = cycles.get(kind) if isinstance(cycles, dict) else None
    return value if isinstance(value, int) else 0


def _send(w3: Any, account: Any, fn: Any, value: int = 0) -> Any:
    tx = fn.build_transaction({"from": account.address, "value": value})
    tx_hash = w3.eth.send_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise ToolError(f"demo transaction {fn.fn_name} reverted")
    return receipt


def render_table(rows: list[DemoRow]) -> str:
    """The human table printed by ``coproc demo``."""
    header = (
        f"{'subject':<44} {'protocol':<17} {'HF':>5} {'block':>5} {'anchor':>6} "
        f"{'journal':>7} {'signed':>6} {'on-chain':>8} {'maxLTV':>6} {'proof':>9}  tx"
    )
    lines = [header, "-" * (len(header) + 20)]
    for r in rows:
        hf = "-" if r.health_factor_q16 < 0 else f"{r.health_factor_q16 / 65536:.2f}"
        lines.append(
            f"{r.subject:<44} {r.protocol:<17} {hf:>5} {r.block:>5} {r.anchor:>6} "
            f"{r.journal_score:>7} {r.signed_score:>6} {r.onchain_score:>8} "
            f"{r.max_ltv_bps:>6} {'dev-mode' if r.dev_mode else 'zk':>9}  {r.tx[:18]}…"
        )
    agree = all(r.ok for r in rows)
    lines.append("")
    if rows:
        lines.append(
            f"model {MODEL}; one batch receipt, {rows[0].cycles:,} guest cycles "
            f"({rows[0].user_cycles:,} user); "
            "HF: the health factor over both protocols (the model's feature)"
        )
    lines.append(
        "all scores agree (journal = signed = on-chain)" if agree else "MISMATCH: see rows above"
    )
    if any(r.dev_mode for r in rows):
        lines.append(
            "dev-mode receipts: real execution, fake seal (accepted only by the dev verifier)"
        )
    return "\n".join(lines)


def rows_json(rows: list[DemoRow]) -> list[dict[str, Any]]:
    """``coproc demo --json``."""
    return [
        {
            "subject": r.subject,
            "protocol": r.protocol,
            "health_factor_q16": r.health_factor_q16,
            "block": r.block,
            "anchor": r.anchor,
            "journal_score": r.journal_score,
            "signed_score": r.signed_score,
            "onchain_score": r.onchain_score,
            "max_ltv_bps": r.max_ltv_bps,
            "dev_mode": r.dev_mode,
            "tx": r.tx,
            "batch": r.batch,
            "leaf_index": r.leaf_index,
            "cycles": r.cycles,
            "user_cycles": r.user_cycles,
            "agree": r.ok,
        }
        for r in rows
    ]
