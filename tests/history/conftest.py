"""Fixtures of the bundle v2 suites: a real anvil chain whose slot changes every 10
blocks and a bundle v2 of reads 2, 30, 31 and 55 blocks behind the anchor; the
cached devnet history (64,000 blocks) served by anvil and a bundle v2 of a read
60,000 blocks behind its head."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from history.history_support import history_available

from coprocessor.chain.bundle_v2 import BundleV2
from coprocessor.dev.devnet import AnvilNode, rpc_call, stop_pid
from coprocessor.dev.history import VALUE_CONTRACT, History, ensure_history, start_history_node
from coprocessor.index.history_index import index_history
from coprocessor.index.indexer import Read
from coprocessor.index.rpc import RpcClient

CONTRACT = "0x00000000000000000000000000000000c0ffee13"
#: runtime code: sstore(0, calldataload(0))
CODE = "0x5f355f5500"
SENDER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
SLOT0 = bytes(32)


@pytest.fixture(scope="session")
def chain(anvil: AnvilNode) -> dict[str, Any]:
    """Writes of slot 0 every 10 blocks over 60 blocks; the reads' blocks."""
    rpc_call(anvil.rpc, "anvil_setCode", [CONTRACT, CODE])
    for i in range(6):
        value = 1000 + 7 * i
        rpc_call(
            anvil.rpc,
            "eth_sendTransaction",
            [{"from": SENDER, "to": CONTRACT, "data": "0x" + value.to_bytes(32, "big").hex()}],
        )
        rpc_call(anvil.rpc, "anvil_mine", ["0x9"])
    head = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)
    return {
        "rpc": anvil.rpc,
        "head": head,
        "contract": CONTRACT,
        "blocks": [head - 55, head - 31, head - 30, head - 2],
    }


def _index(chain: dict[str, Any], chain_max: int = 2) -> Any:
    async def run() -> Any:
        async with RpcClient(chain["rpc"]) as rpc:
            reads = {b: [Read(bytes.fromhex(CONTRACT[2:]), (SLOT0,))] for b in chain["blocks"]}
            return await index_history(rpc, reads, anchor=chain["head"], chain_max=chain_max)

    return asyncio.run(run())


@pytest.fixture(scope="session")
def v2(chain: dict[str, Any]) -> dict[str, Any]:
    verified, plan = _index(chain)
    assert plan.hops  # the reads 55 and 31 blocks back take hops
    return BundleV2(base=verified.bundle, hops=verified.hops).to_json()


@pytest.fixture(scope="session")
def history() -> History:
    return ensure_history()  # minutes on the first run on a machine, then cached


@pytest.fixture(scope="session")
def history_node(history: History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = start_history_node(history, Path(tmp_path_factory.mktemp("history")))
    try:
        yield node
    finally:
        stop_pid(node.pid)


@pytest.fixture(scope="session")
def deep(history: History, history_node: AnvilNode) -> dict[str, Any]:
    target = history.head - 60_000

    async def run() -> Any:
        async with RpcClient(history_node.rpc, timeout=300) as rpc:
            reads = {target: [Read(VALUE_CONTRACT, (bytes(32),))]}
            return await index_history(
                rpc, reads, anchor=history.head, available=history_available(history)
            )

    verified, plan = asyncio.run(run())
    return {
        "target": target,
        "plan": plan,
        "json": BundleV2(base=verified.bundle, hops=verified.hops).to_json(),
    }
