"""A lying node between the indexer and a real anvil (tests/lying_proxy.py).

Every lie must end in a rejection (one-line error, exit 1 for data that fails
verification, 2 for a node that breaks the protocol) or in a successful retry, and
never in stored or emitted data: after a rejection the SQLite store holds no row
and no bundle file exists. Successful runs are checked against anvil directly
(``eth_getStorageAt``, ``eth_getBalance``), not against the code under test.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lying_proxy import (
    LyingProxy,
    Rule,
    batch,
    cut,
    flip_hex,
    http_error,
    json_response,
    mutate,
    rewrite,
    stall,
    stored_rows,
)

from coprocessor.chain.bundle import load_bundle, verify_bundle
from coprocessor.chain.headers import pyevm_encode_header_json
from coprocessor.chain.keccak import keccak256
from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import CoprocessorError, RpcError, RpcTimeoutError, VerificationError
from coprocessor.index.indexer import Read, index_block, index_reads
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

CONTRACT = "0x00000000000000000000000000000000c0ffee01"
ABSENT = "0x00000000000000000000000000000000deadbeef"
#: slots set on CONTRACT; slot 9 stays empty (an absence proof inside the storage trie)
VALUES = {1: 0xFF, 2: 2**255 + 7, 3: 1, 5: 0x1234, 0x10: 77, 2**200: 5}
SLOTS = [1, 2, 3, 5, 9, 0x10]
#: anvil dev account #1 (mnemonic "test test ... junk"), local only
SENDER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def slot_hex(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class Chain:
    rpc: str
    block: int  # the block the tests index; block + 2 exists (ancestors)


@pytest.fixture(scope="module")
def chain(anvil: AnvilNode) -> Chain:
    # anvil_setStorageAt rewrites the state of the head block itself: so the values
    # are in block H and later, and H - 1 (not the genesis) is a block without them
    rpc_call(anvil.rpc, "anvil_mine", ["0x2"])
    for slot, value in VALUES.items():
        rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, slot_hex(slot), slot_hex(value)])
    rpc_call(anvil.rpc, "anvil_setBalance", [CONTRACT, hex(10**18)])
    rpc_call(anvil.rpc, "anvil_mine", ["0x3"])
    head = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)
    return Chain(anvil.rpc, head - 2)  # = H + 1, with H + 2 and H + 3 above it


@pytest.fixture(scope="module")
def module_proxy(anvil: AnvilNode) -> Iterator[LyingProxy]:
    proxy = LyingProxy(anvil.rpc).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(module_proxy: LyingProxy) -> LyingProxy:
    module_proxy.reset()
    return module_proxy


@dataclass
class Run:
    code: int
    out: str
    err: str
    data: Path
    bundle: Path


def run_index(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    rpc: str,
    block: int,
    *,
    ancestors: int = 0,
    extra: tuple[str, ...] = (),
    absent_too: bool = False,
) -> Run:
    """``coproc index`` in-process (the proxy runs in its own thread)."""
    data, out = tmp_path / "data", tmp_path / "out" / "bundle.json"
    args = ["--data-dir", str(data), "index", "--rpc", rpc, "--block", str(block)]
    if absent_too:
        args += ["--address", ABSENT]
    args += ["--address", CONTRACT, *(a for s in SLOTS for a in ("--slot", hex(s)))]
    args += ["--ancestors", str(ancestors), "--out", str(out), *extra]
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err, data, out)


def assert_rejected(run: Run, code: int, *needles: str) -> None:
    """One clear line, the exit code, and nothing stored or emitted."""
    assert run.code == code, (run.code, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coproc: error: "), run.err
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert run.out == ""
    assert not run.bundle.exists()
    assert not run.bundle.parent.exists() or list(run.bundle.parent.iterdir()) == []
    rows = stored_rows(run.data / "coproc.sqlite")
    assert {"headers", "nodes", "accounts", "slots"} <= set(rows)
    assert set(rows.values()) == {0}, rows


def assert_honest(run: Run, chain: Chain, block: int) -> None:
    """Success: the bundle verifies and its values are what anvil itself says."""
    assert run.code == 0, run.err
    verified = verify_bundle(load_bundle(run.bundle))
    header = verified.header(block)
    real = rpc_call(chain.rpc, "eth_getBlockByNumber", [hex(block), False])
    assert "0x" + header.hash.hex() == real["hash"]
    (read,) = [a for a in verified.bundle.accounts if "0x" + a.address.hex() == CONTRACT]
    assert read.account is not None
    balance = rpc_call(chain.rpc, "eth_getBalance", [CONTRACT, hex(block)])
    assert read.account.balance == int(balance, 16) == 10**18
    for entry in read.storage:
        word = rpc_call(
            chain.rpc, "eth_getStorageAt", [CONTRACT, "0x" + entry.slot.hex(), hex(block)]
        )
        assert entry.value == int(word, 16)
    assert {int.from_bytes(s.slot, "big"): s.value for s in read.storage} == {
        s: VALUES.get(s, 0) for s in SLOTS
    }
    store = Store(run.data / "coproc.sqlite")
    try:
        assert [h.hash for h in store.headers_at(verified.bundle.chain_id, block)] == [header.hash]
    finally:
        store.close()


# ----------------------------------------------------------------------------- the lies


def at_block(number: int, fn: Callable[[Any], Any]) -> Callable[[Any, list[Any]], Any]:
    """Apply ``fn`` to an eth_getBlockByNumber / eth_getProof result of one block only."""

    def apply(result: Any, params: list[Any]) -> Any:
        return fn(result) if hex(number) in (params[0], params[-1]) else result

    return apply


def for_address(address: str, fn: Callable[[Any], Any]) -> Callable[[Any, list[Any]], Any]:
    def apply(result: Any, params: list[Any]) -> Any:
        return fn(result) if str(params[0]).lower() == address else result

    return apply


def tamper(value: str) -> str:
    """Another value of the same field: one hex digit changed (or a byte added)."""
    return flip_hex(value, -1) if len(value) > 2 else value + "01"


def set_field(name: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(obj: Any) -> Any:
        obj[name] = fn(obj[name])
        return obj

    return apply


HEADER_FIELDS = [
    "parentHash",
    "sha3Uncles",
    "miner",
    "stateRoot",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "difficulty",
    "number",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "extraData",
    "mixHash",
    "nonce",
    "baseFeePerGas",
    "withdrawalsRoot",
    "blobGasUsed",
    "excessBlobGas",
    "parentBeaconBlockRoot",
    "requestsHash",
    "hash",
]


@pytest.mark.parametrize("field", HEADER_FIELDS)
def test_header_field_lie_is_rejected(
    field: str, chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = mutate("eth_getBlockByNumber", at_block(chain.block, set_field(field, tamper)))
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=1)
    assert proxy.lies == 1
    named = f"header {chain.block + (field == 'number')}"  # the number the header claims
    assert_rejected(run, 1, named, "recomputed hash")


def _consistent(lie: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A liar that also recomputes the header's ``hash`` (with py-evm's header class,
    not the code under test), so the header is self-consistent."""

    def apply(block: Any) -> Any:
        block = lie(block)
        block["hash"] = "0x" + keccak256(pyevm_encode_header_json(block)).hex()
        return block

    return apply


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("stateRoot", "0x" + keccak256(b"another state").hex(), ""),
        ("extraData", "0x6c696573", "parentHash of block"),
        ("timestamp", "0x1", "parentHash of block"),
    ],
)
def test_self_consistent_header_lie_is_rejected(
    field: str,
    value: str,
    needle: str,
    chain: Chain,
    proxy: LyingProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The target header lies and carries the matching hash; the proofs (stateRoot)
    or the link to the next header (anything else) give it away."""
    lie = _consistent(set_field(field, lambda _: value))
    proxy.rule = mutate("eth_getBlockByNumber", at_block(chain.block, lie))
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=2)
    assert proxy.lies == 1
    assert_rejected(run, 1, needle)


def test_header_of_another_block_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def other_block(params: list[Any]) -> list[Any]:
        return [hex(chain.block + 1), *params[1:]] if params[0] == hex(chain.block) else params

    proxy.rule = rewrite("eth_getBlockByNumber", other_block)
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=1)
    assert_rejected(run, 1, f"asked for block {chain.block}, node sent block {chain.block + 1}")


def test_missing_block_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = mutate("eth_getBlockByNumber", at_block(chain.block, lambda _: None))
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 2, f"block {chain.block} does not exist")


def _node_flip(key: str, node: int, digit: int, entry: int | None = None) -> Callable[[Any], Any]:
    def apply(proof: Any) -> Any:
        nodes = proof[key] if entry is None else proof["storageProof"][entry]["proof"]
        nodes[node] = flip_hex(nodes[node], digit)
        return proof

    return apply


@pytest.mark.parametrize("node", [0, 1, -1])
@pytest.mark.parametrize("digit", [0, 3, 101, -1])
def test_account_proof_byte_flip_is_rejected(
    node: int,
    digit: int,
    chain: Chain,
    proxy: LyingProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lie = for_address(CONTRACT, _node_flip("accountProof", node, digit))
    proxy.rule = mutate("eth_getProof", lie)
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert proxy.lies == 1
    assert_rejected(run, 1, "account 0x")


@pytest.mark.parametrize("entry", range(len(SLOTS)))  # includes the absent slot 9
@pytest.mark.parametrize("node", [0, -1])
def test_storage_proof_byte_flip_is_rejected(
    entry: int,
    node: int,
    chain: Chain,
    proxy: LyingProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lie = for_address(CONTRACT, _node_flip("storageProof", node, 40, entry))
    proxy.rule = mutate("eth_getProof", lie)
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert proxy.lies == 1
    assert_rejected(run, 1)


def test_dropped_proof_node_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def drop(proof: Any) -> Any:
        proof["storageProof"][0]["proof"].pop()
        return proof

    proxy.rule = mutate("eth_getProof", for_address(CONTRACT, drop))
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1, "missing trie node")


@pytest.mark.parametrize("field", ["balance", "nonce", "storageHash", "codeHash"])
def test_claimed_account_field_lie_is_rejected(
    field: str, chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = mutate("eth_getProof", for_address(CONTRACT, set_field(field, tamper)))
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1, CONTRACT)


@pytest.mark.parametrize("entry", range(len(SLOTS)))
def test_claimed_storage_value_lie_is_rejected(
    entry: int, chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def lie(proof: Any) -> Any:
        item = proof["storageProof"][entry]
        item["value"] = hex(int(item["value"], 16) + 1)
        return proof

    proxy.rule = mutate("eth_getProof", for_address(CONTRACT, lie))
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1, "claimed value")


def test_absent_account_claimed_present_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = mutate("eth_getProof", for_address(ABSENT, set_field("balance", lambda _: "0x1")))
    run = run_index(capsys, tmp_path, proxy.url, chain.block, absent_too=True)
    assert proxy.lies == 1
    assert_rejected(run, 1, "claims an account the proof shows absent")


def test_present_account_claimed_absent_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The node answers the proof of an absent account, labelled as CONTRACT."""

    async def rule(p: LyingProxy, request: Any, payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("method") == "eth_getProof":
            payload["params"][0] = ABSENT
            answer = await p.forward(payload)
            answer["result"]["address"] = CONTRACT
            p.lies += 1
            return json_response(answer)
        return json_response(await p.forward(payload))

    proxy.rule = rule
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert proxy.lies == 1
    assert_rejected(run, 1, CONTRACT)


def test_proof_of_another_address_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dev0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    proxy.rule = rewrite("eth_getProof", lambda params: [dev0, *params[1:]])
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1, f"asked for a proof of {CONTRACT}, node answered for {dev0}")


def test_proofs_of_other_keys_are_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = [slot_hex(s + 100) for s in SLOTS]
    proxy.rule = rewrite("eth_getProof", lambda params: [params[0], other, *params[2:]])
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1, "other keys than asked")


def test_proofs_of_other_keys_relabelled_are_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The node proves other slots and labels the answers with the asked keys."""

    async def rule(p: LyingProxy, request: Any, payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("method") == "eth_getProof":
            asked = payload["params"][1]
            payload["params"][1] = [slot_hex(int(k, 16) + 100) for k in asked]
            answer = await p.forward(payload)
            for entry, key in zip(answer["result"]["storageProof"], asked, strict=True):
                entry["key"] = key
            p.lies += 1
            return json_response(answer)
        return json_response(await p.forward(payload))

    proxy.rule = rule
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert proxy.lies == 1
    assert_rejected(run, 1, "slot 0x")


def test_proofs_swapped_between_keys_are_rejected_or_harmless(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Honest proofs of slots 1 and 2 under each other's key. A verifier that walks
    each key through the node pool of the whole answer still finds the true values,
    so this may succeed, but only with exactly the true values."""

    def swap(proof: Any) -> Any:
        entries = proof["storageProof"]
        entries[0]["proof"], entries[1]["proof"] = entries[1]["proof"], entries[0]["proof"]
        return proof

    proxy.rule = mutate("eth_getProof", for_address(CONTRACT, swap))
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert proxy.lies == 1
    if run.code == 0:
        assert_honest(run, chain, chain.block)
    else:
        assert_rejected(run, 1, "slot 0x")


def test_dropped_storage_proof_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def drop(proof: Any) -> Any:
        proof["storageProof"].pop(2)
        return proof

    proxy.rule = mutate("eth_getProof", for_address(CONTRACT, drop))
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1, "other keys than asked")


def test_proof_at_another_block_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An honest proof, but of a block before the storage was set."""
    proxy.rule = rewrite("eth_getProof", lambda params: [*params[:2], hex(chain.block - 2)])
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 1)


# ----------------------------------------------------------------------------- chain id


def test_other_chain_id_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = mutate("eth_chainId", lambda _r, _p: "0x1")
    run = run_index(capsys, tmp_path, proxy.url, chain.block, extra=("--chain-id", "31337"))
    assert_rejected(run, 2, "serves chain id 1, expected 31337")
    assert proxy.count("eth_getProof") == 0


def test_garbage_chain_id_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = mutate("eth_chainId", lambda _r, _p: "mainnet")
    run = run_index(capsys, tmp_path, proxy.url, chain.block)
    assert_rejected(run, 2, "eth_chainId")


# ----------------------------------------------------------------------------- batches


def test_reordered_batch_answers_still_work(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = batch(lambda answers: answers[::-1])
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=2)
    assert proxy.lies >= 1  # the header batch (3 blocks) came back reversed
    assert_honest(run, chain, chain.block)


def test_rotated_batch_answers_still_work(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = batch(lambda answers: answers[1:] + answers[:1])
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=2)
    assert proxy.lies >= 1
    assert_honest(run, chain, chain.block)


def _swap_ids(answers: list[Any]) -> list[Any]:
    answers[0]["id"], answers[1]["id"] = answers[1]["id"], answers[0]["id"]
    return answers


@pytest.mark.parametrize(
    ("lie", "code", "needle"),
    [
        (lambda a: a[:-1], 2, "lacks the result"),
        (lambda a: [*a, a[0]], 2, "repeats id"),
        (lambda a: [*a, dict(a[0], id=987654)], 2, "ids that were not asked"),
        (lambda a: [{k: v for k, v in x.items() if k != "id"} for x in a], 2, "without id"),
        (_swap_ids, 1, "asked for block"),
    ],
    ids=["dropped-id", "duplicated-id", "unasked-id", "no-ids", "swapped-ids"],
)
def test_broken_batch_answers_are_rejected(
    lie: Callable[[list[Any]], list[Any]],
    code: int,
    needle: str,
    chain: Chain,
    proxy: LyingProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    proxy.rule = batch(lie)
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=2)
    assert proxy.lies >= 1
    assert_rejected(run, code, needle)


def test_batch_answered_with_one_object_is_rejected(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = batch(lambda answers: answers[0])
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=2)
    assert_rejected(run, 2, "not a JSON array")


# ----------------------------------------------------------------------------- transport


@pytest.mark.parametrize(
    "rule",
    [
        http_error(429, 2, retry_after="0"),
        http_error(500, 2),
        http_error(503, 1),
        http_error(200, 1),  # a 200 whose body is not JSON
        cut(2),
    ],
    ids=["429x2", "500x2", "503x1", "not-json", "cut-mid-response"],
)
def test_transient_failures_are_retried(
    rule: Rule, chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy.rule = rule
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=1)
    failures = proxy.lies
    assert failures >= 1
    # every failed request was sent again: one more eth_chainId than the client made
    assert proxy.count("eth_chainId") == 1 + failures
    assert_honest(run, chain, chain.block)


def fast_client(url: str, **kw: Any) -> RpcClient:
    return RpcClient(url, **{"timeout": 0.5, "retries": 2, "backoff": 0.01, **kw})


async def index_fast(url: str, block: int, store: Store, **kw: Any) -> Any:
    reads = [Read(bytes.fromhex(CONTRACT[2:]), tuple(s.to_bytes(32, "big") for s in sorted(SLOTS)))]
    async with fast_client(url, **kw) as rpc:
        return await index_block(rpc, store, block, reads, ancestors=1)


def test_stall_then_answer_is_retried(chain: Chain, proxy: LyingProxy, tmp_path: Path) -> None:
    proxy.rule = stall(3.0, 1)
    store = Store(tmp_path / "s.sqlite")
    verified = asyncio.run(index_fast(proxy.url, chain.block, store, timeout=1.0))
    assert proxy.lies == 1 and proxy.count("eth_chainId") == 2
    assert len(store.headers_at(31337, chain.block)) == 1
    assert verified.header(chain.block).number == chain.block


def test_endless_stall_ends_in_timeout_error(
    chain: Chain, proxy: LyingProxy, tmp_path: Path
) -> None:
    proxy.rule = stall(3.0, None)
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(RpcTimeoutError, match=r"no answer within 0\.5s"):
        asyncio.run(index_fast(proxy.url, chain.block, store))
    assert proxy.count("eth_chainId") == 3  # 1 + 2 retries
    assert set(stored_rows(store.path).values()) == {0}


def test_stall_during_proofs_stores_nothing(
    chain: Chain, proxy: LyingProxy, tmp_path: Path
) -> None:
    async def rule(p: LyingProxy, request: Any, payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("method") == "eth_getProof":
            await asyncio.sleep(3.0)
        return json_response(await p.forward(payload))

    proxy.rule = rule
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(RpcTimeoutError):
        asyncio.run(index_fast(proxy.url, chain.block, store))
    assert proxy.count("eth_getProof") == 3
    assert set(stored_rows(store.path).values()) == {0}


def test_endless_5xx_ends_in_rpc_error(chain: Chain, proxy: LyingProxy, tmp_path: Path) -> None:
    proxy.rule = http_error(502, None)
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(RpcError, match="HTTP 502"):
        asyncio.run(index_fast(proxy.url, chain.block, store))
    assert proxy.count("eth_chainId") == 3
    assert set(stored_rows(store.path).values()) == {0}


# ----------------------------------------------------------------------------- writes


def _signed_transfer(rpc: str) -> tuple[str, str]:
    sender = EthAccount.from_key(SENDER_KEY)
    nonce = int(rpc_call(rpc, "eth_getTransactionCount", [sender.address, "pending"]), 16)
    tx = {
        "to": to_checksum_address(CONTRACT),
        "value": 1,
        "gas": 30000,
        "maxFeePerGas": 10**11,
        "maxPriorityFeePerGas": 10**9,
        "nonce": nonce,
        "chainId": int(rpc_call(rpc, "eth_chainId"), 16),
        "type": 2,
    }
    signed = EthAccount.sign_transaction(tx, SENDER_KEY)
    return "0x" + bytes(signed.hash).hex(), "0x" + bytes(signed.raw_transaction).hex()


def _mined(rpc: str, tx_hash: str, wait: float) -> bool:
    """Whether the node has a receipt for ``tx_hash`` within ``wait`` seconds
    (anvil mines right after it accepts a transaction, not before answering)."""
    deadline = time.monotonic() + wait
    while True:
        if rpc_call(rpc, "eth_getTransactionReceipt", [tx_hash]) is not None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("rule", "delivered"),
    [
        (http_error(500, None, forward_first=True), True),
        (http_error(429, None), False),
        (stall(3.0, None, forward_first=True), True),
        (cut(None), True),
    ],
    ids=["500-after-delivery", "429", "stall-after-delivery", "cut-after-delivery"],
)
def test_write_is_never_resent(
    rule: Rule, delivered: bool, chain: Chain, proxy: LyingProxy
) -> None:
    tx_hash, raw = _signed_transfer(chain.rpc)

    async def send() -> None:
        async with fast_client(proxy.url, timeout=2.0) as rpc:
            proxy.rule = rule
            await rpc.call("eth_sendRawTransaction", [raw])

    with pytest.raises(RpcError):
        asyncio.run(send())
    assert proxy.count("eth_sendRawTransaction") == 1
    # the failure came after the node took the write (or, for 429, before)
    assert _mined(chain.rpc, tx_hash, 10.0 if delivered else 0.5) == delivered


def test_reads_are_retried_where_writes_are_not(chain: Chain, proxy: LyingProxy) -> None:
    """Control for the test above: the same failure on a read is retried."""

    async def read() -> Any:
        async with fast_client(proxy.url) as rpc:
            proxy.rule = http_error(500, 1)
            return await rpc.call("eth_getBalance", [CONTRACT, hex(chain.block)])

    assert int(asyncio.run(read()), 16) == 10**18
    assert proxy.count("eth_getBalance") == 2


# ----------------------------------------------------------------------------- garbage


def _entries(fn: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
    def apply(proof: Any) -> Any:
        proof["storageProof"] = fn(proof["storageProof"])
        return proof

    return apply


GARBAGE: list[tuple[str, str, Callable[[Any], Any], int]] = [
    ("head-not-hex", "eth_blockNumber", lambda _: "soon", 2),
    ("head-null", "eth_blockNumber", lambda _: None, 2),
    ("block-a-list", "eth_getBlockByNumber", lambda b: [b], 2),
    ("block-without-stateRoot", "eth_getBlockByNumber", lambda b: {**b, "stateRoot": None}, 2),
    ("block-number-not-hex", "eth_getBlockByNumber", lambda b: {**b, "number": "0xzz"}, 2),
    ("proof-a-string", "eth_getProof", lambda _: "proof", 2),
    ("proof-without-address", "eth_getProof", lambda p: {**p, "address": None}, 1),
    ("proof-nodes-not-a-list", "eth_getProof", lambda p: {**p, "accountProof": "0x00"}, 2),
    ("proof-node-not-hex", "eth_getProof", lambda p: {**p, "accountProof": ["0xzz"]}, 2),
    ("storage-not-a-list", "eth_getProof", _entries(lambda e: {"0": e[0]}), 1),
    ("storage-entry-a-string", "eth_getProof", _entries(lambda e: ["0x01", *e[1:]]), 1),
    ("storage-entry-empty", "eth_getProof", _entries(lambda e: [{}, *e[1:]]), 1),
    ("storage-key-a-number", "eth_getProof", _entries(lambda e: [{**e[0], "key": 1}, *e[1:]]), 1),
    ("storage-value-word", "eth_getProof", _entries(lambda e: [{**e[0], "value": "x"}, *e[1:]]), 2),
    (
        "storage-proof-null",
        "eth_getProof",
        _entries(lambda e: [{**e[0], "proof": None}, *e[1:]]),
        2,
    ),
    ("storage-entry-twice", "eth_getProof", _entries(lambda e: [*e, e[0]]), 1),
]


@pytest.mark.parametrize(
    ("method", "lie", "code"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
def test_garbage_answers_are_one_clear_error(
    method: str,
    lie: Callable[[Any], Any],
    code: int,
    chain: Chain,
    proxy: LyingProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Malformed answers (wrong JSON types) are the node's fault: a clear error with
    exit 1 or 2, never a traceback, nothing stored or written."""
    if method == "eth_getProof":
        proxy.rule = mutate(method, for_address(CONTRACT, lie))
    else:
        proxy.rule = mutate(method, lambda result, _params: lie(result))
    try:
        run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=1)
    except Exception as exc:  # what the CLI would show as a traceback
        pytest.fail(f"uncaught {type(exc).__name__}: {exc}")
    assert proxy.lies >= 1
    assert run.code in (1, 2)
    assert_rejected(run, run.code)


def test_history_run_stops_at_the_lie_and_resumes_honestly(
    chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--blocks N..N+2 with a lie at N+1: N is written, nothing of N+1 or N+2 is
    written or stored; an honest rerun keeps N and does the rest."""
    n = chain.block
    lie = at_block(n + 1, _node_flip("accountProof", -1, 70))
    proxy.rule = mutate("eth_getProof", lie)
    data, out = tmp_path / "data", tmp_path / "history"
    args = ["--data-dir", str(data), "index", "--rpc", proxy.url, "--blocks", f"{n}..{n + 2}"]
    args += ["--address", CONTRACT, "--slot", "1", "--out", str(out)]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("coproc: error: ") and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == [f"bundle-{n}.json"]
    conn = sqlite3.connect(data / "coproc.sqlite")
    numbers = {r[0] for r in conn.execute("SELECT number FROM headers")}
    blocks = {r[0] for r in conn.execute("SELECT block_number FROM accounts")}
    conn.close()
    assert numbers == blocks == {n}

    proxy.reset()
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["bundles"], summary["resumed"]) == (3, 1)
    for number in (n, n + 1, n + 2):
        verified = verify_bundle(load_bundle(out / f"bundle-{number}.json"))
        real = rpc_call(chain.rpc, "eth_getBlockByNumber", [hex(number), False])["hash"]
        assert "0x" + verified.anchor.hash.hex() == real


@pytest.mark.parametrize("method", ["eth_getBlockByNumber", "eth_getProof", "eth_blockNumber"])
def test_error_object_answers_are_rejected_with_the_nodes_message(
    method: str, chain: Chain, proxy: LyingProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async def rule(p: LyingProxy, request: Any, payload: Any) -> Any:
        calls = payload if isinstance(payload, list) else [payload]
        ids = {call["id"] for call in calls if call["method"] == method}
        answer = await p.forward(payload)
        for item in answer if isinstance(answer, list) else [answer]:
            if item.get("id") in ids:
                item.pop("result", None)
                item["error"] = {"code": -32000, "message": "header not found"}
                p.lies += 1
        return json_response(answer)

    proxy.rule = rule
    run = run_index(capsys, tmp_path, proxy.url, chain.block, ancestors=1)
    assert proxy.lies >= 1
    assert_rejected(run, 2, f"{method}: header not found (code -32000)")


@pytest.mark.parametrize("lied_block", [0, 2])
def test_multi_block_bundle_lie_at_one_block_is_rejected(
    lied_block: int, chain: Chain, proxy: LyingProxy, tmp_path: Path
) -> None:
    """Reads at N and N+2 in one bundle (index_reads): a value lie at either block
    rejects the whole bundle, and nothing of any block is stored."""
    n = chain.block
    slots = tuple(s.to_bytes(32, "big") for s in sorted(SLOTS))
    read = Read(bytes.fromhex(CONTRACT[2:]), slots)

    def lie(proof: Any) -> Any:
        proof["storageProof"][0]["value"] = "0x1"
        return proof

    proxy.rule = mutate("eth_getProof", at_block(n + lied_block, lie))
    store = Store(tmp_path / "s.sqlite")

    async def run() -> Any:
        async with fast_client(proxy.url) as rpc:
            return await index_reads(rpc, store, {n: [read], n + 2: [read]}, anchor=n + 2)

    with pytest.raises(VerificationError, match="claimed value 0x1"):
        asyncio.run(run())
    assert proxy.lies >= 1  # (a retry after a slow answer lies again)
    assert set(stored_rows(store.path).values()) == {0}
    proxy.reset()
    verified = asyncio.run(run())  # control: the honest node gives both blocks
    assert sorted(a.block for a in verified.bundle.accounts) == [n, n + 2]


# ----------------------------------------------------------------------------- any lie


def _hex_paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        return [p for k in sorted(obj) for p in _hex_paths(obj[k], (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _hex_paths(v, (*path, i))]
    if isinstance(obj, str) and obj.startswith("0x") and len(obj) > 2:
        return [path]
    return []


def _flip_at(obj: Any, pick: int, pos: int, step: int) -> Any:
    """Change one hex digit (chosen by ``pick``/``pos`` modulo the sizes) of ``obj``."""
    paths = _hex_paths(obj)
    if not paths:
        return obj
    path = paths[pick % len(paths)]
    target = obj
    for key in path[:-1]:
        target = target[key]
    text = target[path[-1]]
    i = 2 + pos % (len(text) - 2)
    digit = "0123456789abcdef"[(int(text[i], 16) + step) % 16] if text[i] in HEXDIGITS else "0"
    target[path[-1]] = text[:i] + digit + text[i + 1 :]
    return obj


HEXDIGITS = frozenset("0123456789abcdefABCDEF")


@pytest.fixture(scope="module")
def honest_bundle(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = Store(tmp_path_factory.mktemp("honest") / "s.sqlite")
    try:
        verified = asyncio.run(index_fast(chain.rpc, chain.block, store))
    finally:
        store.close()
    return dict(verified.bundle.to_json())


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["eth_getBlockByNumber", "eth_getProof"]),
    which=st.integers(0, 1),
    pick=st.integers(0, 10**6),
    pos=st.integers(0, 10**6),
    step=st.integers(1, 15),
)
def test_any_one_digit_lie_is_rejected_or_changes_nothing(
    method: str,
    which: int,
    pick: int,
    pos: int,
    step: int,
    chain: Chain,
    proxy: LyingProxy,
    honest_bundle: dict[str, Any],
) -> None:
    """One hex digit of one string of one answer (a header of N or N+1, or the
    proof) is changed: the run is rejected with nothing stored, or, when the digit
    was outside anything hashed (``size``, ``totalDifficulty``...), it emits exactly
    the honest bundle."""
    proxy.reset()
    block = chain.block + (which % 2 if method == "eth_getBlockByNumber" else 0)
    lie = at_block(block, lambda result: _flip_at(result, pick, pos, step))
    proxy.rule = mutate(method, lie)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite")
        try:
            bundle = asyncio.run(index_fast(proxy.url, chain.block, store)).bundle.to_json()
        except CoprocessorError:
            event(f"{method}: rejected")
            assert set(stored_rows(store.path).values()) == {0}
        else:
            event(f"{method}: harmless")
            assert bundle == honest_bundle
        finally:
            store.close()
    assert proxy.lies >= 1  # (a retry after a slow answer lies again)
