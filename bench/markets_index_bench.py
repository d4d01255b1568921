"""Indexing protocol reads (docs/formats.md §3c) for every borrower of the simulated
markets at one block, against the raw RPC calls the same reads need without proofs.

Rows, each the best of 3 runs (a fresh store for every proven run):

- **proven**: what ``coproc index --spec S --subjects ALL --block N`` does: the
  protocol reads of every subject run over verified storage (each round one verified
  bundle, rounds shared by all subjects), then one bundle with every recorded slot
  (served from the store the rounds filled), verified again by the native verifier;
- **raw proofs, unchecked**: the same reads and rounds with the same ``eth_getProof``
  calls, the answers' values taken without checking any proof or header;
- **raw storage**: the same reads over plain ``eth_getStorageAt`` (and ``eth_getProof``
  without keys for the accounts Morpho checks by code hash), in the same rounds,
  nothing proven;
- **views**: one ``eth_call`` of the protocol's own view per borrower
  (``Pool.getUserAccountData``; MorphoBalancesLib's ``expectedBorrowAssets`` through
  the devnet's MorphoLens), nothing proven.

RPC calls are counted by the client (a batched call counts once per call in it).
Run: ``.venv/bin/python -m bench.markets_index_bench`` (builds the markets first if
the machine has none: about 20 minutes).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import table
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.proofs import Account
from coprocessor.dev.devnet import stop_pid
from coprocessor.dev.markets.cache import ensure_built, load_meta, start_markets
from coprocessor.dev.markets.node import Node, calldata
from coprocessor.index.indexer import index_reads
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.paths import REPO_ROOT
from coprocessor.scoring import batch, features, pipeline
from coprocessor.scoring.protocol_index import merge_reads, record_protocol_reads
from coprocessor.scoring.protocol_values import read_protocol
from coprocessor.scoring.protocols.storage import Pair, VerifiedStorage

REPEAT = 3
PARAMS = "(address,address,address,address,uint256)"


@dataclass
class RawStorage(VerifiedStorage):
    """:class:`VerifiedStorage`'s rounds with plain reads: ``eth_getStorageAt`` per slot,
    ``eth_getProof`` without keys per new account (its code hash), nothing verified."""

    async def _index(self, pairs: set[Pair]) -> None:
        ordered = sorted(pairs)
        tag = hex(self.block)
        calls: list[tuple[str, Sequence[Any]]] = [
            ("eth_getStorageAt", ["0x" + a.hex(), "0x" + s.to_bytes(32, "big").hex(), tag])
            for a, s in ordered
        ]
        new = sorted({a for a, _ in ordered} - set(self.accounts))
        calls += [("eth_getProof", ["0x" + a.hex(), [], tag]) for a in new]
        if self.header_timestamp is None:
            calls.append(("eth_getBlockByNumber", [tag, False]))
        answers = await self.rpc.batch(calls)
        self.rounds += 1
        for (address, slot), value in zip(ordered, answers, strict=False):
            self.values[(address, slot)] = int(value, 16)
        for address, proof in zip(new, answers[len(ordered) :], strict=False):
            self.accounts[address] = Account(
                int(proof["nonce"], 16),
                int(proof["balance"], 16),
                bytes.fromhex(proof["storageHash"][2:]),
                bytes.fromhex(proof["codeHash"][2:]),
            )
        if self.header_timestamp is None:
            self.header_timestamp = int(answers[-1]["timestamp"], 16)


@dataclass
class RawProofStorage(VerifiedStorage):
    """:class:`VerifiedStorage`'s rounds with the same ``eth_getProof`` calls, the proofs
    not checked (the values taken from the answers as they are)."""

    async def _index(self, pairs: set[Pair]) -> None:
        by_address: dict[bytes, list[int]] = {}
        for address, slot in sorted(pairs):
            by_address.setdefault(address, []).append(slot)
        keys = {a: [s.to_bytes(32, "big") for s in slots] for a, slots in by_address.items()}
        answers = await asyncio.gather(
            *(self.rpc.get_proof(a, keys[a], self.block) for a in by_address),
            *([self.rpc.get_block(self.block)] if self.header_timestamp is None else []),
        )
        self.rounds += 1
        for address, proof in zip(by_address, answers, strict=False):
            self.accounts[address] = Account(
                int(proof["nonce"], 16),
                int(proof["balance"], 16),
                bytes.fromhex(proof["storageHash"][2:]),
                bytes.fromhex(proof["codeHash"][2:]),
            )
            for entry in proof["storageProof"]:
                self.values[(address, int(entry["key"], 16))] = int(entry["value"], 16)
        if self.header_timestamp is None:
            self.header_timestamp = int(answers[-1]["timestamp"], 16)


@dataclass
class Run:
    seconds: float
    calls: Counter[str]
    detail: str


async def proven(url: str, spec: features.Spec, subjects: list[str], block: int) -> Run:
    """``coproc index --spec --subjects`` (cold store), then the bundle verified again
    and every subject's features computed from it (timed apart, in ``detail``)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "coproc.sqlite")
        try:
            async with RpcClient(url) as rpc:
                start = time.perf_counter()
                recorded = await record_protocol_reads(rpc, store, spec, subjects, block)
                by_block = merge_reads(batch.batch_reads(spec, subjects, block), recorded)
                verified = await index_reads(rpc, store, by_block, anchor=block)
                seconds = time.perf_counter() - start
                calls = Counter(rpc.calls_by_method)
        finally:
            store.close()
    start = time.perf_counter()
    again = pipeline.verify(verified.bundle)
    verify = time.perf_counter() - start
    start = time.perf_counter()
    features.compute_bundle_many(spec, again, subjects, block)
    score = time.perf_counter() - start
    accounts = verified.bundle.accounts
    size = len(json.dumps(verified.bundle.to_json()))
    detail = (
        f"{len(accounts)} accounts, {sum(len(a.storage) for a in accounts):,} slots, "
        f"{len(verified.bundle.nodes):,} nodes, {size / 1e6:.2f} MB; "
        f"verify {verify:.2f} s, features of all {score:.2f} s"
    )
    return Run(seconds, calls, detail)


async def raw(
    url: str, spec: features.Spec, subjects: list[str], block: int, kind: type[VerifiedStorage]
) -> Run:
    """The same protocol reads over ``kind`` (:class:`RawStorage`, :class:`RawProofStorage`)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "unused.sqlite")  # the raw rounds store nothing
        try:
            return await _raw(url, store, spec, subjects, block, kind)
        finally:
            store.close()


async def _raw(
    url: str,
    store: Store,
    spec: features.Spec,
    subjects: list[str],
    block: int,
    kind: type[VerifiedStorage],
) -> Run:
    async with RpcClient(url) as rpc:
        start = time.perf_counter()
        storage = kind(rpc, store, block)
        jobs = {}
        for feat in spec.features:
            if isinstance(feat, features.ReadFeature) and not isinstance(
                feat.read, features.Source
            ):
                for subject in subjects:
                    jobs[(feat.read.entry, subject)] = (feat.read, bytes.fromhex(subject[2:]))
        await asyncio.gather(*(read_protocol(r, storage, u) for r, u in jobs.values()))
        seconds = time.perf_counter() - start
        slots = len(storage.values)
        return Run(
            seconds, Counter(rpc.calls_by_method), f"{storage.rounds} rounds, {slots:,} slots"
        )


async def views(url: str, requests: list[tuple[str, str]], block: int) -> Run:
    """One ``eth_call`` per (contract, calldata), batched."""
    async with RpcClient(url) as rpc:
        start = time.perf_counter()
        await rpc.batch(
            [("eth_call", [{"to": to, "data": data}, hex(block)]) for to, data in requests]
        )
        return Run(time.perf_counter() - start, Counter(rpc.calls_by_method), "")


def best(fn: Callable[[], Coroutine[Any, Any, Run]]) -> Run:
    runs = [asyncio.run(fn()) for _ in range(REPEAT)]
    return min(runs, key=lambda r: r.seconds)


def code_hash(node_call: Callable[..., Any], address: str, block: int) -> str:
    code = node_call("eth_getCode", address, hex(block))
    return "0x" + keccak256(bytes.fromhex(code[2:])).hex()


def morpho_spec(meta: dict[str, Any], hashes: tuple[str, str]) -> features.Spec:
    feats = []
    for k, name in enumerate(sorted(meta["morpho"]["markets"])):
        for field in ("borrow_assets", "health_factor"):
            read = {
                "kind": "protocol",
                "protocol": "morpho-blue-1.0.0",
                "morpho": meta["morpho"]["morpho"],
                "morpho_code_hash": hashes[0],
                "market_id": meta["morpho"]["markets"][name]["id"],
                "irm_code_hash": hashes[1],
                "field": field,
            }
            feats.append({"name": f"{field}_{k}", "read": read, "decimals": 18})
    return features.normalize(
        {"format": "coproc-features", "version": 1, "name": "morpho", "features": feats}
    )


def calls_text(calls: Counter[str]) -> str:
    parts = ", ".join(f"{n:,} {m}" for m, n in sorted(calls.items()))
    return f"{sum(calls.values()):,} ({parts})"


def rows_for(
    what: str,
    url: str,
    spec: features.Spec,
    subjects: list[str],
    block: int,
    view_requests: Iterable[tuple[str, str]],
) -> list[list[object]]:
    p = best(lambda: proven(url, spec, subjects, block))
    r = best(lambda: raw(url, spec, subjects, block, RawStorage))
    rp = best(lambda: raw(url, spec, subjects, block, RawProofStorage))
    v = best(lambda: views(url, list(view_requests), block))
    out: list[list[object]] = []
    named = [("proven (one bundle)", p), ("raw proofs, unchecked", rp)]
    for name, run in (*named, ("raw storage reads", r), ("views", v)):
        ratio = f"{p.seconds / run.seconds:.1f}×" if run is not p else "1×"
        out.append(
            [what, name, calls_text(run.calls), f"{run.seconds:.2f}", ratio, run.detail or "–"]
        )
    return out


def main() -> None:
    directory = ensure_built()
    meta = load_meta(directory)
    with tempfile.TemporaryDirectory() as work:
        anvil = start_markets(directory, Path(work))
        try:
            node = Node(anvil.rpc)
            block = max(s["block"] for s in meta["samples"] if s["reason"] == "rate-change-after")
            aave = [b["address"] for b in meta["borrowers"] if b["protocol"] == "aave"]
            morpho = [b for b in meta["borrowers"] if b["protocol"] == "morpho"]
            sample = features.load(REPO_ROOT / "models" / "aave-v3-health.features.json")
            pool = meta["aave"]["pool"]
            rows = rows_for(
                f"Aave v3, {len(aave)} borrowers, spec aave-v3-health (7 features)",
                anvil.rpc,
                sample,
                aave,
                block,
                [(pool, calldata("getUserAccountData(address)", u)) for u in aave],
            )
            hashes = (
                code_hash(node.call, meta["morpho"]["morpho"], block),
                code_hash(node.call, meta["morpho"]["irm"], block),
            )
            lens, m = meta["morpho"]["lens"], meta["morpho"]
            requests = []
            for b in morpho:
                market = m["markets"][b["market"]]
                params = tuple(
                    market[k] for k in ("loan_token", "collateral_token", "oracle", "irm", "lltv")
                )
                signature = f"expectedBorrowAssets(address,{PARAMS},address)"
                requests.append((lens, calldata(signature, m["morpho"], params, b["address"])))
            rows += rows_for(
                f"Morpho Blue, {len(morpho)} borrowers × 2 markets (4 features)",
                anvil.rpc,
                morpho_spec(meta, hashes),
                [b["address"] for b in morpho],
                block,
                requests,
            )
        finally:
            stop_pid(anvil.pid)
    print(
        table(
            f"Protocol reads of every borrower at block {block} (best of {REPEAT})",
            ["market", "how", "RPC calls", "seconds", "proven ÷ this", "what"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
