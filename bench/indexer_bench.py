"""Proof verification throughput and indexing overhead, on a real local anvil.

1. Verification: a bundle of 1,000 storage slots of one contract plus 32 accounts.
   Fast path = ``verify_bundle`` (node pool, each node hashed once) against the naive
   baseline = ``HexaryTrie.get_from_proof`` once per account and per storage proof,
   in the same run. Target: >= 10x.
2. Indexing: ``index_block`` for the same 1,000 slots (fetch + verify + store)
   against the raw ``eth_getProof`` calls alone. Target: verification and storage add
   < 50% on top of the RPC time.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import best_of, table
from coprocessor.bundle import ProofAtBlock, build_bundle, verify_bundle
from coprocessor.devnet import AnvilNode, rpc_call, start_anvil, stop_pid
from coprocessor.hexutil import to_bytes
from coprocessor.indexer import IndexStats, Read, index_block
from coprocessor.proofs import get_from_proof
from coprocessor.rpc import RpcClient
from coprocessor.slots import slot_bytes
from coprocessor.store import Store

SLOTS = 1000
ACCOUNTS = 32
CONTRACT = bytes.fromhex("c0ffee0000000000000000000000000000000001")


def _populate(node: AnvilNode) -> list[bytes]:
    rpc_call(node.rpc, "anvil_setCode", ["0x" + CONTRACT.hex(), "0x6000"])
    slots = [slot_bytes(i * 7 + 1) for i in range(SLOTS)]
    for i, slot in enumerate(slots):
        rpc_call(
            node.rpc,
            "anvil_setStorageAt",
            ["0x" + CONTRACT.hex(), "0x" + slot.hex(), "0x" + (i + 1).to_bytes(32, "big").hex()],
        )
    for i in range(ACCOUNTS):
        addr = "0x" + (0xA0000 + i).to_bytes(20, "big").hex()
        rpc_call(node.rpc, "anvil_setBalance", [addr, hex(10**18 + i)])
    rpc_call(node.rpc, "anvil_mine", ["0x2"])
    return slots


def _accounts() -> list[bytes]:
    return [(0xA0000 + i).to_bytes(20, "big") for i in range(ACCOUNTS)]


async def _fetch(node: AnvilNode, slots: list[bytes]) -> tuple[int, list[Any], Any]:
    async with RpcClient(node.rpc) as rpc:
        block = await rpc.block_number()
        header = await rpc.get_block(block)
        proofs = [await rpc.get_proof(CONTRACT, slots, block)]
        for addr in _accounts():
            proofs.append(await rpc.get_proof(addr, [], block))
        return block, proofs, header


def _naive(state_root: bytes, proofs: list[Any]) -> int:
    checked = 0
    for proof in proofs:
        address = to_bytes(proof["address"], "a", 20)
        nodes = [to_bytes(n, "n") for n in proof["accountProof"]]
        get_from_proof(state_root, address, nodes, "naive")
        checked += 1
        storage_root = to_bytes(proof["storageHash"], "s", 32)
        for entry in proof["storageProof"]:
            key = to_bytes(entry["key"], "k", 32)
            get_from_proof(storage_root, key, [to_bytes(n, "n") for n in entry["proof"]], "naive")
            checked += 1
    return checked


async def _index_vs_rpc(node: AnvilNode, slots: list[bytes], block: int) -> tuple[float, float]:
    async def raw() -> None:
        async with RpcClient(node.rpc) as rpc:
            await rpc.get_proof(CONTRACT, slots, block)

    async def indexed() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "db.sqlite")
            async with RpcClient(node.rpc) as rpc:
                await index_block(
                    rpc, store, block, [Read(CONTRACT, tuple(slots))], stats=IndexStats()
                )
            store.close()

    import time

    raw_times, index_times = [], []
    for _ in range(5):
        t = time.perf_counter()
        await raw()
        raw_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        await indexed()
        index_times.append(time.perf_counter() - t)
    return min(raw_times), min(index_times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = start_anvil("bench", Path(tmp), persist=False)
        try:
            slots = _populate(node)
            block, proofs, header_json = asyncio.run(_fetch(node, slots))
            from coprocessor.headers import header_from_json

            header = header_from_json(header_json)
            verified = build_bundle(
                node.chain_id, [header.raw], [ProofAtBlock(block, p) for p in proofs]
            )
            bundle_json = json.loads(json.dumps(verified.bundle.to_json()))
            count = ACCOUNTS + 1 + SLOTS
            naive = best_of(3, lambda: _naive(header.state_root, proofs))
            fast = best_of(3, lambda: verify_bundle(bundle_json))
            print(
                table(
                    f"Proof verification: {SLOTS} slots of one contract + {ACCOUNTS + 1} accounts "
                    f"({len(verified.bundle.nodes)} unique nodes)",
                    ["path", "seconds", "proofs/s", "ratio vs naive"],
                    [
                        [
                            "naive HexaryTrie.get_from_proof per proof",
                            f"{naive:.4f}",
                            f"{count / naive:,.0f}",
                            "1.0x",
                        ],
                        [
                            "verify_bundle (node pool, JSON parse included)",
                            f"{fast:.4f}",
                            f"{count / fast:,.0f}",
                            f"{naive / fast:.1f}x",
                        ],
                    ],
                )
            )
            raw, indexed = asyncio.run(_index_vs_rpc(node, slots, block))
            print(
                table(
                    f"Indexing {SLOTS} slots at one block (local anvil, best of 5)",
                    ["what", "seconds", "overhead vs raw RPC"],
                    [
                        ["raw eth_getProof calls only", f"{raw:.4f}", "-"],
                        [
                            "index_block (fetch + verify + store)",
                            f"{indexed:.4f}",
                            f"{(indexed - raw) / raw:+.0%}",
                        ],
                    ],
                )
            )
        finally:
            stop_pid(node.pid)


if __name__ == "__main__":
    main()
