"""The Rocky bot, done with proofs (``coproc demo-rocky``, docs/rocky.md).

End to end on a fresh two-chain devnet in ``<data dir>/rocky`` (wiped at start), dev
mode (real execution of the guest, fake seal accepted by the L2's dev verifier):

1. L1 = the cached Rocky scenario (``coprocessor.dev.rocky``: a Uniswap v3 WETH/USDC
   pool whose price moved along a seeded path for a day of blocks, states kept at the
   sampled blocks), then the real nitro Bridge/Inbox/Outbox on it, the L2 with emulated
   ArbOS, the L2 RiskOracle and L2ResultSender, the relay (``bridge.devnet.up_l2``);
2. the RockyVault on L1 (trusting the L2ResultSender, trading the pool), funded;
3. index: a bundle v2 of the pool's slot 0 at the 24 hourly samples of the past day,
   tied to a fresh anchor by EIP-2935 (``index_history``), verified, scored in Python;
4. prove (dev) the same request in the zkVM guest: the journal;
5. verify on L2: the anchor's hash bridged L1 -> L2 (retryable), the model registered,
   the receipt submitted to the L2 RiskOracle;
6. L2 -> L1: ``L2ResultSender.relayScore(vault, pool, model)`` -> ArbSys.sendTxToL1 ->
   send root posted -> ``Outbox.executeTransaction`` -> the Bridge calls the vault, which
   checks the sender and the freshness and swaps in the predicted direction;
7. the vault's balances before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from coprocessor.dev import rocky
from coprocessor.dev.devnet import Devnet
from coprocessor.errors import ToolError
from coprocessor.paths import REPO_ROOT

#: the vault's rules: results at most an hour of L1 blocks old, 1 % price limit
MAX_AGE_BLOCKS = 300
MAX_SLIPPAGE_BPS = 100
#: the most one swap sells: 10 WETH or 30,000 USDC (raw units set per token below)
MAX_SELL = {"WETH": 10 * 10**18, "USDC": 30_000 * 10**6}
#: what the vault starts with
FUNDING = {"WETH": 100 * 10**18, "USDC": 300_000 * 10**6}
#: the vault's owner and the L2 oracle's owner (dev account #1, the devnet's user)
OWNER = 1
#: seconds to wait for the relay to post a send root
CONFIRM_TIMEOUT = 120.0

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": mut,
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(ins)],
        "outputs": [{"name": "", "type": t} for t in outs],
    }
    for name, mut, ins, outs in (
        ("balanceOf", "view", ["address"], ["uint256"]),
        ("transfer", "nonpayable", ["address", "uint256"], ["bool"]),
        ("mint", "nonpayable", ["uint256"], ["bool"]),
    )
]


@dataclass(frozen=True)
class RockyRun:
    """What the demo did: each step's numbers, for the table and the test."""

    data_dir: str
    pool: str
    vault: str
    model_hash: str
    spec_hash: str
    block: int
    anchor: int
    features: list[int]
    python_score: int
    journal_score: int
    oracle_score: int
    vault_score: int
    vault_block: int
    zero_for_one: bool
    amount0: int
    amount1: int
    before: dict[str, int]
    after: dict[str, int]
    tick_before: int
    tick_after: int
    message: str
    dev_mode: bool
    cycles: int
    seconds: float

    @property
    def predicted_up(self) -> bool:
        """The journal's score predicts the tick going up (>= 5,000 bps)."""
        return self.journal_score >= 5_000

    @property
    def ok(self) -> bool:
        """The proven, verified and acted-on scores agree and the swap went the
        predicted way (up: the vault paid token1 for token0)."""
        scores = {self.python_score, self.journal_score, self.oracle_score, self.vault_score}
        direction = self.zero_for_one == (not self.predicted_up)
        return len(scores) == 1 and direction and self.vault_block == self.block

    def to_json(self) -> dict[str, Any]:
        """``coproc demo-rocky --json``."""
        return dict(asdict(self), predicted_up=self.predicted_up, ok=self.ok)


def _say(message: str) -> None:
    print(f"[rocky] {message}", file=sys.stderr, flush=True)


def stop_rocky_devnet(root: Path) -> None:
    """Stop the demo's nodes and relay (state files stay for inspection)."""
    from bridge.devnet import load, stop_relay

    with contextlib.suppress(ToolError):
        stop_relay(load(root))
    Devnet(root).down()


def start_devnet(root: Path, scenario: rocky.Scenario) -> dict[str, Any]:
    """L1 from the scenario, then the L2, the bridge contracts and the relay."""
    from bridge.devnet import up_l2

    stop_rocky_devnet(root)
    if root.exists():
        shutil.rmtree(root)
    devnet = Devnet(root)
    node = rocky.start_rocky_node(scenario, devnet.dir)
    devnet.file.write_text(json.dumps({"l1": node.to_json()}, indent=2))
    devnet.up()  # finds the running node and records it
    return up_l2(devnet)


def run_rocky(data_dir: Path, keep: bool = False) -> RockyRun:
    """Run the demo in ``data_dir/rocky``; the devnet is stopped at the end unless
    ``keep``."""
    root = data_dir / "rocky"
    try:
        return _run(root)
    finally:
        if not keep:
            stop_rocky_devnet(root)


def _run(root: Path) -> RockyRun:
    from web3 import Web3

    from bridge.chain import connect, dev_account
    from bridge.service import Bridge
    from coprocessor.onchain import contracts
    from coprocessor.scoring import features
    from coprocessor.scoring.models import model as model_format
    from coprocessor.zk import prover

    started = time.monotonic()
    _say("the Rocky scenario (cached per machine; the first build takes minutes)...")
    scenario = rocky.ensure_rocky()
    _say(
        f"starting the two-chain devnet: L1 = the scenario (head {scenario.head}, pool "
        f"{scenario.pool}), nitro Bridge/Inbox/Outbox, L2 with ArbOS emulated, relay..."
    )
    info = start_devnet(root, scenario)
    l1 = connect(info["l1"]["rpc"], info["l1"]["chain_id"])
    l2 = connect(info["l2"]["rpc"], info["l2"]["chain_id"])
    addresses = info["contracts"]
    owner = dev_account(OWNER)

    model_path = REPO_ROOT / "models" / f"{rocky.MODEL}.json"
    spec_path = REPO_ROOT / "models" / f"{rocky.MODEL}.features.json"
    model = model_format.load(model_path)
    spec = features.load(spec_path)
    model_hash, spec_hash = model.hash(), features.spec_hash(spec)
    pool = Web3.to_checksum_address(scenario.pool)
    tokens = _tokens(scenario)

    _say("deploying the RockyVault on L1 and funding it...")
    vault = deploy_vault(l1, addresses, pool, model_hash, tokens, owner.address)
    for symbol, amount in FUNDING.items():
        token = l1.eth.contract(address=Web3.to_checksum_address(tokens[symbol]), abi=ERC20_ABI)
        _send(l1, owner.address, token.functions.mint(amount))
        _send(l1, owner.address, token.functions.transfer(vault.address, amount))
    before = _balances(l1, tokens, vault.address)

    block = scenario.head
    # the anchor: a block L1 has passed (its hash is readable on chain by the pusher)
    anchor = l1.eth.block_number - 1
    _say(
        f"index: slot0 of the pool at {rocky.SAMPLES} samples every {rocky.EVERY} blocks "
        f"ending at block {block}, tied to anchor {anchor} (bundle v2, EIP-2935)..."
    )
    bundle_path = root / "bundle.json"
    verified = asyncio.run(
        index_bundle(info["l1"]["rpc"], spec, pool.lower(), block, anchor, bundle_path)
    )
    from coprocessor.scoring import pipeline

    scored = pipeline.run(verified, spec, model, pool.lower(), block)
    vector = dict(zip(spec.names, scored.features.values, strict=True))
    _say(f"features (Q16): {vector}; Python score {scored.score} bps")

    _say("prove (dev mode: the guest runs for real, the seal is fake)...")
    receipt_path = root / "receipt.json"
    request_id = Web3.keccak(text=f"rocky:{pool.lower()}:{block}:{anchor}").to_0x_hex()
    summary = prover.prove(
        prover.ProveRequest(
            bundle_path, model_path, spec_path, pool.lower(), request_id=request_id, block=block
        ),
        receipt_path,
        dev=True,
    )
    receipt = prover.load_receipt(receipt_path)
    journal = bytes.fromhex(str(receipt["journal_hex"]).removeprefix("0x"))
    seal = bytes.fromhex(str(receipt["seal_hex"]).removeprefix("0x"))
    journal_score = int(summary["journal"]["score"])
    cycles = int((summary.get("cycles") or {}).get("total") or 0)
    _say(f"journal: score {journal_score} bps, {cycles} cycles")

    bridge = Bridge.from_devnet(info, root)
    _say(f"L1 -> L2: the anchor {anchor}'s hash through the Inbox (retryable ticket)...")
    bridge.push_blockhash(anchor, timeout=120)
    oracle = contracts.at(l2, "RiskOracle", addresses["l2_risk_oracle"])
    image_id = bytes.fromhex(str(receipt["image_id"]).removeprefix("0x"))
    _send(l2, owner.address, oracle.functions.allowImageId(image_id, True))
    _send(l2, owner.address, oracle.functions.registerModel(model_hash, spec_hash))
    _say("verify on L2: RiskOracle.submit(journal, seal)...")
    bridge.post_l2_score(journal, seal, timeout=120)
    stored = oracle.functions.scoreOf(pool, model_hash).call()

    tick_before = _tick(l1, pool)
    _say("L2 -> L1: L2ResultSender.relayScore -> ArbSys.sendTxToL1 -> Outbox...")
    message = relay_result(bridge, addresses, vault.address, pool, model_hash)
    wait_confirmed(bridge, message)
    bridge.execute(message, timeout=120)
    traded = vault.events.Traded().get_logs(from_block=anchor)
    if len(traded) != 1:
        raise ToolError(f"the vault traded {len(traded)} times, expected once")
    event = traded[0]["args"]
    after = _balances(l1, tokens, vault.address)
    return RockyRun(
        data_dir=str(root),
        pool=pool,
        vault=vault.address,
        model_hash="0x" + model_hash.hex(),
        spec_hash="0x" + spec_hash.hex(),
        block=block,
        anchor=anchor,
        features=list(scored.features.values),
        python_score=scored.score,
        journal_score=journal_score,
        oracle_score=int(stored[0]),
        vault_score=int(vault.functions.lastScore().call()),
        vault_block=int(vault.functions.lastBlock().call()),
        zero_for_one=bool(event["zeroForOne"]),
        amount0=int(event["amount0"]),
        amount1=int(event["amount1"]),
        before=before,
        after=after,
        tick_before=tick_before,
        tick_after=_tick(l1, pool),
        message=message,
        dev_mode=bool(summary.get("dev_mode")),
        cycles=cycles,
        seconds=round(time.monotonic() - started, 1),
    )


async def index_bundle(
    rpc_url: str, spec: Any, subject: str, block: int, anchor: int, out: Path
) -> Any:
    """The bundle v2 of the spec's reads at ``block`` tied to ``anchor`` (written to
    ``out``), verified again from its JSON; the verified bundle."""
    from coprocessor.chain.bundle_v2 import BundleV2, verify_bundle_v2
    from coprocessor.index.history_index import index_history
    from coprocessor.index.indexer import write_json_atomic
    from coprocessor.index.rpc import RpcClient
    from coprocessor.scoring.reads import reads_for_spec

    async with RpcClient(rpc_url) as rpc:
        reads = reads_for_spec(spec, subject, block)
        verified, _plan = await index_history(
            rpc,
            reads,
            anchor=anchor,
            available=lambda b: b % rocky.EVERY == 0 or b >= anchor - 8,
        )
    write_json_atomic(out, BundleV2(base=verified.bundle, hops=verified.hops).to_json())
    return verify_bundle_v2(json.loads(out.read_text()))


def deploy_vault(
    l1: Any,
    addresses: dict[str, str],
    pool: str,
    model_hash: bytes,
    tokens: Mapping[str, str],
    owner: str,
    max_age: int = MAX_AGE_BLOCKS,
) -> Any:
    """A RockyVault trusting the devnet's L2ResultSender (token0/token1 caps from
    :data:`MAX_SELL`)."""
    from coprocessor.onchain import contracts

    token0 = l1.eth.contract(address=pool, abi=_POOL_ABI).functions.token0().call()
    weth_is_0 = token0.lower() == tokens["WETH"].lower()
    sell0, sell1 = (
        (MAX_SELL["WETH"], MAX_SELL["USDC"]) if weth_is_0 else (MAX_SELL["USDC"], MAX_SELL["WETH"])
    )
    return contracts.deploy(
        l1,
        "RockyVault",
        addresses["bridge"],
        addresses["l2_result_sender"],
        pool,
        model_hash,
        max_age,
        MAX_SLIPPAGE_BPS,
        sell0,
        sell1,
        sender=owner,
    )


def relay_result(
    bridge: Any, addresses: dict[str, str], vault: str, pool: str, model: bytes
) -> str:
    """``L2ResultSender.relayScore(vault, pool, model)`` on L2; the tracked send's id."""
    from bridge import outbox
    from coprocessor.onchain import contracts

    sender = contracts.at(bridge.l2, "L2ResultSender", addresses["l2_result_sender"])
    tx = sender.functions.relayScore(vault, pool, model).transact({"from": bridge.account.address})
    receipt = bridge.l2.eth.wait_for_transaction_receipt(tx)
    if receipt["status"] != 1:
        raise ToolError("relayScore reverted on L2")
    sends = outbox.messages_in_receipt(bridge.l2, receipt)
    if len(sends) != 1:
        raise ToolError(f"expected one L2ToL1Tx, found {len(sends)}")
    return str(bridge.track_send(sends[0]).id)


def wait_confirmed(bridge: Any, message: str, timeout: float = CONFIRM_TIMEOUT) -> None:
    """Wait until the relay has posted a send root covering ``message``."""
    from bridge import outbox

    deadline = time.monotonic() + timeout
    while bridge.refresh_send(message) == outbox.UNCONFIRMED:
        if time.monotonic() > deadline:
            raise ToolError(f"{message}: no send root posted within {timeout:g} s")
        time.sleep(0.3)


_POOL_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "token0",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    }
]


def _tokens(scenario: rocky.Scenario) -> dict[str, str]:
    from web3 import Web3

    return {s: Web3.to_checksum_address(a) for s, a in scenario.manifest["tokens"].items()}


def _tick(l1: Any, pool: str) -> int:
    return rocky.tick_of_word(int.from_bytes(bytes(l1.eth.get_storage_at(pool, 0)), "big"))


def _balances(l1: Any, tokens: dict[str, str], holder: str) -> dict[str, int]:
    return {
        symbol: int(l1.eth.contract(address=a, abi=ERC20_ABI).functions.balanceOf(holder).call())
        for symbol, a in tokens.items()
    }


def _send(w3: Any, sender: str, fn: Any) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    if receipt["status"] != 1:
        raise ToolError(f"rocky demo transaction {fn.fn_name} reverted")
    return receipt


def render(run: RockyRun) -> str:
    """The human summary printed by ``coproc demo-rocky``."""
    direction = "UP (buy token0)" if run.predicted_up else "DOWN (sell token0)"
    lines = [
        f"pool {run.pool}   vault {run.vault}",
        f"model {run.model_hash[:18]}…  spec {run.spec_hash[:18]}…",
        f"score at block {run.block} (anchor {run.anchor}): python {run.python_score}, "
        f"journal {run.journal_score}, L2 oracle {run.oracle_score}, "
        f"vault acted on {run.vault_score} -> predicted {direction}",
        f"swap: zeroForOne={run.zero_for_one}, pool amounts {run.amount0} / {run.amount1}; "
        f"tick {run.tick_before} -> {run.tick_after}",
        "vault balances: "
        + ", ".join(f"{s} {run.before[s]} -> {run.after[s]}" for s in sorted(run.before)),
        f"L2->L1 message {run.message}; {'dev-mode receipt' if run.dev_mode else 'zk receipt'}, "
        f"{run.cycles} cycles; {run.seconds} s",
        "",
        "OK: proven = verified on L2 = acted on by the vault, swap in the predicted direction"
        if run.ok
        else "MISMATCH: see above",
    ]
    return "\n".join(lines)


__all__ = [
    "RockyRun",
    "deploy_vault",
    "index_bundle",
    "relay_result",
    "render",
    "run_rocky",
    "start_devnet",
    "stop_rocky_devnet",
    "wait_confirmed",
]
