"""Reorgs on a real anvil (evm_snapshot / evm_revert, then different blocks at the
same heights): the store keeps the orphaned headers marked non-canonical, a new
index of the same height gets the new hash, and values cached under the old hash
are never served for the new block.

This module runs its own anvil: reverting the session node would pull blocks away
from under other tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anvil_support import anvil_fixture

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.index.indexer import IndexStats, Read, index_block
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

CONTRACT = "0x00000000000000000000000000000000c0ffee03"
SLOT = (1).to_bytes(32, "big")
CHAIN_ID = 31337


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    yield from anvil_fixture(tmp_path_factory.mktemp("reorg-anvil"), "reorg")


def call(node: AnvilNode, method: str, *params: Any) -> Any:
    return rpc_call(node.rpc, method, list(params))


def set_slot(node: AnvilNode, value: int) -> None:
    call(
        node,
        "anvil_setStorageAt",
        CONTRACT,
        "0x" + SLOT.hex(),
        "0x" + value.to_bytes(32, "big").hex(),
    )


def block_hash(node: AnvilNode, number: int) -> str:
    return str(call(node, "eth_getBlockByNumber", hex(number), False)["hash"])


@dataclass
class Indexed:
    verified: VerifiedBundle
    stats: IndexStats

    def value(self) -> int:
        (read,) = self.verified.bundle.accounts
        (entry,) = read.storage
        return entry.value

    def hash(self, number: int) -> str:
        return "0x" + self.verified.header(number).hash.hex()


def index(node: AnvilNode, store: Store, number: int, ancestors: int = 0) -> Indexed:
    stats = IndexStats()

    async def run() -> VerifiedBundle:
        async with RpcClient(node.rpc) as rpc:
            reads = [Read(bytes.fromhex(CONTRACT[2:]), (SLOT,))]
            return await index_block(rpc, store, number, reads, ancestors=ancestors, stats=stats)

    return Indexed(asyncio.run(run()), stats)


def canonical(store: Store, number: int) -> list[tuple[str, bool]]:
    return [("0x" + h.hash.hex(), h.canonical) for h in store.headers_at(CHAIN_ID, number)]


def head(node: AnvilNode) -> int:
    return int(call(node, "eth_blockNumber"), 16)


def test_reorg_replaces_the_block_and_its_values(node: AnvilNode, tmp_path: Path) -> None:
    call(node, "anvil_mine", "0x2")
    set_slot(node, 0xAA)  # in the head block's state, and in the blocks mined on it
    snapshot = call(node, "evm_snapshot")
    call(node, "anvil_mine", "0x2")
    n = head(node) - 1
    store = Store(tmp_path / "store.sqlite")

    old = index(node, store, n, ancestors=1)
    assert old.value() == 0xAA and not old.stats.cached
    old_n, old_child = old.hash(n), old.hash(n + 1)
    assert old_n == block_hash(node, n)
    assert canonical(store, n) == [(old_n, True)]
    again = index(node, store, n, ancestors=1)
    assert again.stats.cached and again.value() == 0xAA  # the cache works (control)

    assert call(node, "evm_revert", snapshot) is True
    assert head(node) == n - 1
    set_slot(node, 0xBB)
    call(node, "anvil_mine", "0x3")
    new_n = block_hash(node, n)
    assert new_n != old_n

    new = index(node, store, n, ancestors=1)
    assert not new.stats.cached  # nothing cached under the new hash
    assert new.hash(n) == new_n
    assert new.value() == 0xBB == int(call(node, "eth_getStorageAt", CONTRACT, "0x1", hex(n)), 16)
    assert canonical(store, n) == [(new_n, True), (old_n, False)]
    assert canonical(store, n + 1) == [(new.hash(n + 1), True), (old_child, False)]
    # the old values stay stored under the old hash, for the record
    old_row = store.cached_values(bytes.fromhex(old_n[2:]), bytes.fromhex(CONTRACT[2:]), [SLOT])
    assert old_row is not None and int(old_row["storage"][SLOT], 16) == 0xAA

    cached = index(node, store, n, ancestors=1)
    assert cached.stats.cached and cached.value() == 0xBB and cached.hash(n) == new_n
    store.close()


def test_reorg_with_the_same_state_still_changes_the_hash(node: AnvilNode, tmp_path: Path) -> None:
    """Same storage, another timestamp: another block hash at the same height."""
    call(node, "anvil_mine", "0x1")
    snapshot = call(node, "evm_snapshot")
    call(node, "anvil_mine", "0x1")
    n = head(node)
    store = Store(tmp_path / "store.sqlite")
    old = index(node, store, n)
    call(node, "evm_revert", snapshot)
    stamp = int(call(node, "eth_getBlockByNumber", hex(n - 1), False)["timestamp"], 16)
    call(node, "evm_setNextBlockTimestamp", hex(stamp + 1000))
    call(node, "anvil_mine", "0x1")
    new = index(node, store, n)
    assert new.hash(n) != old.hash(n)
    assert new.hash(n) == block_hash(node, n)
    assert not new.stats.cached
    assert new.value() == old.value()
    assert canonical(store, n) == [(new.hash(n), True), (old.hash(n), False)]
    store.close()


def test_orphaned_parent_is_marked_when_only_a_child_is_indexed(
    node: AnvilNode, tmp_path: Path
) -> None:
    """Block N indexed, reorg, then only N+1 indexed: the stored N is not the parent
    of the canonical N+1, so it cannot stay canonical."""
    call(node, "anvil_mine", "0x1")
    snapshot = call(node, "evm_snapshot")
    set_slot(node, 0x11)
    call(node, "anvil_mine", "0x1")
    n = head(node)
    store = Store(tmp_path / "store.sqlite")
    old = index(node, store, n)
    call(node, "evm_revert", snapshot)
    set_slot(node, 0x22)
    call(node, "anvil_mine", "0x2")
    assert block_hash(node, n) != old.hash(n)
    child = index(node, store, n + 1)
    assert child.value() == 0x22
    assert canonical(store, n) == [(old.hash(n), False)]
    store.close()


def history(node: AnvilNode, tmp_path: Path, first: int, last: int, *slots: str) -> dict[str, Any]:
    """``coproc index --blocks FIRST..LAST`` in-process; its JSON summary."""
    import contextlib
    import io
    import json

    from coprocessor.cli.main import main

    args = ["--data-dir", str(tmp_path / "data"), "index", "--rpc", node.rpc]
    args += ["--blocks", f"{first}..{last}", "--address", CONTRACT, "--out", str(tmp_path / "h")]
    for slot in slots:
        args += ["--slot", slot]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return dict(json.loads(out.getvalue()))


def bundle_of(tmp_path: Path, number: int) -> dict[str, Any]:
    import json

    return dict(json.loads((tmp_path / "h" / f"bundle-{number}.json").read_text()))


def test_history_resume_skips_only_bundles_still_on_the_chain(
    node: AnvilNode, tmp_path: Path
) -> None:
    call(node, "anvil_mine", "0x1")
    snapshot = call(node, "evm_snapshot")
    set_slot(node, 0x31)
    call(node, "anvil_mine", "0x2")
    n = head(node) - 1
    first = history(node, tmp_path, n, n + 1, "1")
    assert first["resumed"] == 0
    assert history(node, tmp_path, n, n + 1, "1")["resumed"] == 2  # control: resumable

    call(node, "evm_revert", snapshot)
    set_slot(node, 0x32)
    call(node, "anvil_mine", "0x2")
    after = history(node, tmp_path, n, n + 1, "1")
    assert after["resumed"] == 0  # the old bundles are of orphaned blocks
    for number in (n, n + 1):
        bundle = bundle_of(tmp_path, number)
        assert bundle["anchor"]["hash"] == block_hash(node, number)
        assert bundle["accounts"][0]["storage"][0]["value"] == "0x32"


def test_history_resume_skips_only_bundles_of_the_same_reads(
    node: AnvilNode, tmp_path: Path
) -> None:
    set_slot(node, 0x41)
    call(node, "anvil_mine", "0x2")
    n = head(node) - 1
    assert history(node, tmp_path, n, n + 1, "1")["resumed"] == 0
    again = history(node, tmp_path, n, n + 1, "1", "2")  # one more slot asked
    assert again["resumed"] == 0
    slots = [s["slot"] for s in bundle_of(tmp_path, n)["accounts"][0]["storage"]]
    assert slots == ["0x" + (1).to_bytes(32, "big").hex(), "0x" + (2).to_bytes(32, "big").hex()]


def test_flip_flop_back_to_the_first_branch(node: AnvilNode, tmp_path: Path) -> None:
    """Branch A, then B, then A again (real headers of both branches): the flags
    follow, for the block and its child."""
    from coprocessor.chain.headers import header_from_json

    def headers(first: int) -> list[Any]:
        return [
            header_from_json(call(node, "eth_getBlockByNumber", hex(n), False))
            for n in (first, first + 1)
        ]

    call(node, "anvil_mine", "0x1")
    snapshot = call(node, "evm_snapshot")
    call(node, "anvil_mine", "0x2")
    n = head(node) - 1
    branch_a = headers(n)
    call(node, "evm_revert", snapshot)
    set_slot(node, 0x51)
    call(node, "anvil_mine", "0x2")
    branch_b = headers(n)
    assert branch_a[0].hash != branch_b[0].hash and branch_a[1].hash != branch_b[1].hash

    store = Store(tmp_path / "store.sqlite")
    for branch in (branch_a, branch_b, branch_a):
        for header in branch:
            store.mark_canonical(CHAIN_ID, header)
    for height, (a, b) in enumerate(zip(branch_a, branch_b, strict=True)):
        assert canonical(store, n + height) == [
            ("0x" + a.hash.hex(), True),
            ("0x" + b.hash.hex(), False),
        ]
    # B's block alone again: A's child no longer links and is orphaned; B's child
    # is not re-promoted (the store cannot know it is the canonical child)
    store.mark_canonical(CHAIN_ID, branch_b[0])
    assert sorted(canonical(store, n + 1)) == sorted(
        ("0x" + h.hash.hex(), False) for h in (branch_a[1], branch_b[1])
    )
    store.close()
