"""Proof verification throughput and indexing overhead, on a real local anvil.

1. Verification: a bundle of 1,000 storage slots of one contract plus 32 accounts.
   Python ``verify_bundle`` (node pool, each node hashed once) and the native verifier
   (the guest's Rust core through ``coproc_native``) against the naive baseline =
   ``HexaryTrie.get_from_proof`` once per account and per storage proof, in the same
   run. Target: >= 10x.
2. Indexing: ``index_block`` for the same 1,000 slots (head + headers + proofs +
   verify + store), native and Python verification, against baselines of raw
   ``eth_getProof`` calls alone (connect + calls + JSON decode): (a) the calls made
   the way ``index_block`` makes them (``KEYS_PER_CALL`` keys each, all at once) and
   (b) one single 1,000-key call. The target is judged against the faster of the
   two. (c), shown beside them, is (a) without decoding the answers at all (the
   bodies read as bytes): the floor of any client, not a way to use the answers.
   Each run indexes into a fresh store, opened before the clock starts (opening
   and creating the schema is a once-per-process cost, reported on its own row).
   All five are interleaved round by round; best of N, medians beside them, and the
   load average before and after. Target: verification and storage add < 50% on top
   of the RPC time.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import best_of, table
from coprocessor.chain.bundle import ProofAtBlock, build_bundle, verify_bundle
from coprocessor.chain.hexutil import to_bytes
from coprocessor.chain.native import available as native_available
from coprocessor.chain.native import verify_bundle_json_native
from coprocessor.chain.proofs import get_from_proof
from coprocessor.chain.slots import slot_bytes
from coprocessor.dev.devnet import AnvilNode, rpc_call, start_anvil, stop_pid
from coprocessor.index.indexer import KEYS_PER_CALL, IndexStats, Read, index_block
from coprocessor.index.rpc import ReadAnswer, RpcClient
from coprocessor.index.store import Store

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


class _Body(ReadAnswer):
    """An answer kept as its HTTP body, not decoded (baseline (c))."""

    def __init__(self, body: bytes) -> None:
        self.body = body


@dataclass
class _Runs:
    """Best-of timings of one way of indexing (seconds)."""

    total: list[float] = field(default_factory=list)
    verify: list[float] = field(default_factory=list)
    store: list[float] = field(default_factory=list)
    #: CPU time of this process (all its threads; anvil's own CPU is not in it)
    cpu: list[float] = field(default_factory=list)

    def best(self) -> tuple[float, float, float]:
        i = min(range(len(self.total)), key=self.total.__getitem__)
        return self.total[i], self.verify[i], self.store[i]


async def _index_vs_rpc(
    node: AnvilNode, slots: list[bytes], block: int, rounds: int
) -> tuple[dict[str, _Runs], dict[str, _Runs], float]:
    """Both raw baselines, index (native) and index (Python), interleaved round by
    round so that machine load hits all of them alike."""
    assert len(slots) <= 1024  # baseline (b) is one call

    async def raw_as_indexed(runs: _Runs, decode: bool = True) -> None:
        """(a), or (c) without ``decode`` (each body kept as bytes)."""
        t, cpu = time.perf_counter(), time.process_time()
        async with RpcClient(node.rpc) as rpc:
            calls = rpc.proof_calls(
                CONTRACT,
                slots,
                block,
                KEYS_PER_CALL,
                reader=None if decode else lambda body, _id, _slots: _Body(body),
            )
            await asyncio.gather(*(call for _, call in calls))
        runs.total.append(time.perf_counter() - t)
        runs.cpu.append(time.process_time() - cpu)

    async def raw_single(runs: _Runs) -> None:
        t, cpu = time.perf_counter(), time.process_time()
        async with RpcClient(node.rpc) as rpc:
            await rpc.get_proof(CONTRACT, slots, block)
        runs.total.append(time.perf_counter() - t)
        runs.cpu.append(time.process_time() - cpu)

    async def indexed(tmp: Path, name: str, runs: _Runs) -> float:
        opened = time.perf_counter()
        store = Store(tmp / f"{name}.sqlite")
        open_seconds = time.perf_counter() - opened
        stats = IndexStats()
        t, cpu = time.perf_counter(), time.process_time()
        async with RpcClient(node.rpc) as rpc:
            await index_block(rpc, store, block, [Read(CONTRACT, tuple(slots))], stats=stats)
        runs.total.append(time.perf_counter() - t)
        runs.cpu.append(time.process_time() - cpu)
        runs.verify.append(stats.verify_seconds)
        runs.store.append(stats.store_seconds)
        store.close()
        return open_seconds

    raw = {"as_indexed": _Runs(), "single": _Runs(), "bytes": _Runs()}
    opens: list[float] = []
    modes = {"native": _Runs(), "python": _Runs()}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            await raw_as_indexed(raw["as_indexed"])
            await raw_single(raw["single"])
            await raw_as_indexed(raw["bytes"], decode=False)
            for mode, runs in modes.items():
                os.environ["COPROC_NATIVE"] = "1" if mode == "native" else "0"
                opens.append(await indexed(Path(tmp), f"{mode}{i}", runs))
    os.environ.pop("COPROC_NATIVE", None)
    return raw, modes, min(opens)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = start_anvil("bench", Path(tmp), persist=False)
        try:
            slots = _populate(node)
            block, proofs, header_json = asyncio.run(_fetch(node, slots))
            from coprocessor.chain.headers import header_from_json

            header = header_from_json(header_json)
            verified = build_bundle(
                node.chain_id, [header.raw], [ProofAtBlock(block, p) for p in proofs]
            )
            bundle_json = json.loads(json.dumps(verified.bundle.to_json()))
            count = ACCOUNTS + 1 + SLOTS
            if not native_available():
                raise SystemExit("coproc_native is not installed: bash scripts/setup.sh")
            bundle_text = json.dumps(bundle_json).encode()
            # the native verifier must agree before it is timed
            assert verify_bundle_json_native(bundle_text) == verify_bundle(bundle_json).to_json()
            naive = best_of(3, lambda: _naive(header.state_root, proofs))
            fast = best_of(5, lambda: verify_bundle(bundle_json))
            native = best_of(5, lambda: verify_bundle_json_native(bundle_text))
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
                            "Python verify_bundle (node pool, JSON parse included)",
                            f"{fast:.4f}",
                            f"{count / fast:,.0f}",
                            f"{naive / fast:.1f}x",
                        ],
                        [
                            "native verify (Rust core, JSON text parse included)",
                            f"{native:.4f}",
                            f"{count / native:,.0f}",
                            f"{naive / native:.1f}x",
                        ],
                    ],
                )
            )
            rounds = 30
            load_before = _load()
            raw, modes, open_seconds = asyncio.run(_index_vs_rpc(node, slots, block, rounds))
            load_after = _load()
            parts = -(-SLOTS // KEYS_PER_CALL)
            baselines = {
                f"(a) raw eth_getProof as index_block calls it ({parts} calls of <= "
                f"{KEYS_PER_CALL} keys, at once)": raw["as_indexed"],
                f"(b) raw eth_getProof, one {SLOTS}-key call": raw["single"],
            }
            base = min(min(runs.total) for runs in baselines.values())
            base_median = min(statistics.median(runs.total) for runs in baselines.values())
            floor = "(c) = (a) with the answers not decoded (bodies as bytes; not judged)"
            rows: list[list[object]] = [
                [
                    label,
                    f"{min(runs.total):.4f}",
                    f"{statistics.median(runs.total):.4f}",
                    f"{statistics.median(runs.cpu):.4f}",
                    "-",
                    "-",
                    "-",
                    "-",
                ]
                for label, runs in [*baselines.items(), (floor, raw["bytes"])]
            ]
            for mode, label in (("native", "native verifier"), ("python", "Python verify_bundle")):
                total, verify, store = modes[mode].best()
                median = statistics.median(modes[mode].total)
                rows.append(
                    [
                        f"index_block, {label}",
                        f"{total:.4f}",
                        f"{statistics.median(modes[mode].total):.4f}",
                        f"{statistics.median(modes[mode].cpu):.4f}",
                        f"{verify:.4f}",
                        f"{store:.4f}",
                        f"{(total - base) / base:+.0%}",
                        f"{(median - base_median) / base_median:+.0%}",
                    ]
                )
            rows.append(
                [
                    "(opening a fresh store, once per process)",
                    f"{open_seconds:.4f}",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                ]
            )
            print(
                table(
                    f"Indexing {SLOTS} slots at one block (local anvil, best of {rounds}, "
                    f"interleaved; load average {load_before} before, {load_after} after)",
                    [
                        "what",
                        "seconds (best)",
                        "median",
                        "CPU of this process (median)",
                        "of which build (+ verify: Python; parsing overlaps the RPC)",
                        "of which store (+ verify: native, overlapped)",
                        "overhead vs the faster of (a), (b): best vs best",
                        "median vs median",
                    ],
                    rows,
                )
            )
        finally:
            stop_pid(node.pid)


if __name__ == "__main__":
    main()
