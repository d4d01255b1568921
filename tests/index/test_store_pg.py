"""The verified-data cache on PostgreSQL (``index/store_pg.py``) against the SQLite
store it twins (``index/store.py``), issue #18.

- real mainnet bundles (tests/vectors/chain) saved in both stores give exactly the
  same rows, table for table, and the same answers to every read; the bundle rebuilt
  from either cache is the same bundle;
- the same contract on both backends (a parametrized ``cache``): a bundle saved twice
  adds nothing, a reorg leaves the orphaned header and its stored descendant marked
  non-canonical, the indexer on a real anvil serves its second run from the cache;
- hops of a real anvil's history contract saved and read back as they were; a hop row
  changed in PostgreSQL is rejected on read;
- several writers (threads, each its own connection) saving overlapping bundles at
  once: no error, each node stored once;
- the cache schema: refused when missing (until ``coproc db migrate``) or newer, in one
  line; migrated once by concurrent migrations.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from locations import CHAIN_VECTORS
from pg_support import PostgresServer

from coprocessor.chain.bundle import ProofAtBlock, VerifiedBundle, build_bundle
from coprocessor.chain.headers import decode_header, encode_header_json
from coprocessor.chain.history import HISTORY_ADDRESS
from coprocessor.dev.devnet import AnvilNode, rpc_call, start_anvil, stop_pid
from coprocessor.errors import StoreError
from coprocessor.index.history_index import index_history
from coprocessor.index.hop_cache import VerifiedHop, pack_nodes, unpack_nodes
from coprocessor.index.indexer import IndexStats, Read, bundle_from_store, index_block
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import ChainCache, Store
from coprocessor.index.store_pg import (
    CACHE_SCHEMA_VERSION,
    PgStore,
    cache_schema_version,
    migrate_chain_cache,
)
from coprocessor.service.store.database import migrate_database, open_chain_cache

MAINNET = 1
ANVIL = 31337
#: the tables of both stores, their columns in one order (SQLite name, PostgreSQL name)
TABLES = {
    "headers": "chain_id, number, hash, parent_hash, state_root, timestamp, rlp, canonical",
    "nodes": "hash, rlp",
    "accounts": "chain_id, block_hash, block_number, address, present, nonce, balance,"
    " storage_root, code_hash",
    "slots": "block_hash, address, slot, value",
    "block_nodes": "block_hash, hashes",
    "hop_sources": "chain_id, number, hash, header, account_proof",
    "hops": "chain_id, source, target, target_header, storage_proof",
}


def _mainnet_bundles() -> list[VerifiedBundle]:
    """Every header vector with proofs at its block, built into a verified bundle."""
    out = []
    for header_file in sorted((CHAIN_VECTORS / "headers").glob("*.json")):
        proofs = sorted((CHAIN_VECTORS / "proofs").glob(f"{header_file.stem}_*.json"))
        if proofs:
            header = json.loads(header_file.read_text())
            number = int(header["number"], 16)
            answers = [ProofAtBlock(number, json.loads(p.read_text())["proof"]) for p in proofs]
            out.append(build_bundle(MAINNET, [encode_header_json(header)], answers))
    return out


@pytest.fixture(scope="module")
def bundles() -> list[VerifiedBundle]:
    found = _mainnet_bundles()
    assert len(found) >= 3 and sum(len(b.bundle.nodes) for b in found) > 50
    return found


def _pg_url(server: PostgresServer) -> str:
    url = server.new_database()
    migrate_chain_cache(url)
    return url


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A new database with the cache tables (and nothing else)."""
    return _pg_url(pg_server)


@pytest.fixture(params=["sqlite", "postgres"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainCache]:
    """The store on each backend: SQLite file, or a new migrated PostgreSQL database."""
    store: ChainCache
    if request.param == "sqlite":
        store = Store(tmp_path / "coproc.sqlite")
    else:
        store = PgStore(_pg_url(request.getfixturevalue("pg_server")))
    try:
        yield store
    finally:
        store.close()


def _rows(store: ChainCache) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; booleans as SQLite keeps them (0/1)."""
    out = {}
    for table, columns in TABLES.items():
        if isinstance(store, Store):
            rows = store.db.conn.execute(f"SELECT {columns} FROM {table}").fetchall()
        else:
            assert isinstance(store, PgStore)
            rows = store.conn.execute(f"SELECT {columns} FROM chain_{table}").fetchall()
        out[table] = sorted(tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows)
    return out


def _reads(verified: VerifiedBundle) -> dict[int, list[Read]]:
    out: dict[int, list[Read]] = {}
    for read in verified.bundle.accounts:
        slots = tuple(s.slot for s in read.storage)
        out.setdefault(read.block, []).append(Read(read.address, slots))
    return out


# ---------------------------------------------------------------------- both stores


def test_real_bundles_read_back_the_same_from_both_stores(
    bundles: list[VerifiedBundle], pg_url: str, tmp_path: Path
) -> None:
    lite, pg = Store(tmp_path / "coproc.sqlite"), PgStore(pg_url)
    try:
        for verified in bundles:
            lite.save_verified(verified)
            pg.save_verified(verified)
        rows = _rows(lite)
        assert rows == _rows(pg)
        assert len(rows["nodes"]) == len({n for b in bundles for n in b.bundle.nodes})
        assert len(rows["slots"]) > 0 and len(rows["headers"]) == len(bundles)
        assert lite.counts() == pg.counts()
        for verified in bundles:
            (header,) = verified.headers
            for store in (lite, pg):
                assert store.canonical_header(MAINNET, header.number) == header
            assert lite.headers_at(MAINNET, header.number) == pg.headers_at(MAINNET, header.number)
            assert lite.describe_header(MAINNET, header.number) == pg.describe_header(
                MAINNET, header.number
            )
            nodes = lite.nodes_for_block(header.hash)
            assert nodes and sorted(nodes) == sorted(pg.nodes_for_block(header.hash))
            for read in verified.bundle.accounts:
                slots = [s.slot for s in read.storage]
                values = lite.cached_values(header.hash, read.address, slots)
                assert values is not None
                assert values == pg.cached_values(header.hash, read.address, slots)
                assert {k: int(v, 16) for k, v in values["storage"].items()} == {
                    s.slot: s.value for s in read.storage
                }
                missing = [*slots, b"\x77" * 32]
                assert lite.cached_values(header.hash, read.address, missing) is None
                assert pg.cached_values(header.hash, read.address, missing) is None
            rebuilt = [
                bundle_from_store(lite, MAINNET, verified.headers, _reads(verified)),
                # typed Store; a PgStore is a store.ChainCache, all it uses
                bundle_from_store(pg, MAINNET, verified.headers, _reads(verified)),  # type: ignore[arg-type]
            ]
            assert rebuilt[0] is not None and rebuilt[1] is not None
            assert rebuilt[0].bundle == rebuilt[1].bundle
    finally:
        lite.close()
        pg.close()


# ---------------------------------------------------------------------- one contract


def test_a_bundle_saved_twice_adds_nothing(
    cache: ChainCache, bundles: list[VerifiedBundle]
) -> None:
    for verified in bundles:
        cache.save_verified(verified)
    counts = cache.counts()
    for verified in reversed(bundles):
        cache.save_verified(verified)
    assert cache.counts() == counts
    assert counts["nodes"] == len({n for b in bundles for n in b.bundle.nodes})


def _header_json(number: int) -> dict[str, Any]:
    (path,) = (CHAIN_VECTORS / "headers").glob(f"*_{number}.json")
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def test_a_reorg_leaves_the_orphans_marked_non_canonical(cache: ChainCache) -> None:
    """Real consecutive headers N, N+1 stored; another header at N (its extra data
    changed) made canonical: N and, since it no longer links, N+1 are orphaned, kept."""
    number = 22431082
    real = [decode_header(encode_header_json(_header_json(n))) for n in (number, number + 1)]
    assert real[1].parent_hash == real[0].hash
    other = dict(_header_json(number), extraData="0x" + b"reorg".hex())
    fork = decode_header(encode_header_json(other))
    assert fork.number == number and fork.hash != real[0].hash
    for header in real:
        cache.mark_canonical(MAINNET, header)
    assert cache.canonical_header(MAINNET, number + 1) == real[1]
    cache.mark_canonical(MAINNET, fork)
    assert [(h.hash, h.canonical) for h in cache.headers_at(MAINNET, number)] == [
        (fork.hash, True),
        (real[0].hash, False),
    ]
    assert cache.canonical_header(MAINNET, number) == fork
    assert cache.canonical_header(MAINNET, number + 1) is None
    assert cache.describe_header(MAINNET, number + 1) == [
        {"number": number + 1, "hash": "0x" + real[1].hash.hex(), "canonical": False}
    ]
    # the original chain wins again: N+1 first, which orphans the fork below it
    cache.mark_canonical(MAINNET, real[1])
    assert [h.canonical for h in cache.headers_at(MAINNET, number)] == [False, False]
    cache.mark_canonical(MAINNET, real[0])
    assert cache.canonical_header(MAINNET, number) == real[0]
    assert cache.canonical_header(MAINNET, number + 1) == real[1]
    assert cache.counts()["headers"] == 3


# ---------------------------------------------------------------------- a real anvil

CONTRACT = bytes.fromhex("00000000000000000000000000000000c0ffee18")
#: runtime code: sstore(0, calldataload(0))
CODE = "0x5f355f5500"
SENDER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
SLOT0 = bytes(32)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """Its own anvil: slot 0 of CONTRACT written every 10 blocks over 60 blocks."""
    started = start_anvil("store-pg", tmp_path_factory.mktemp("store-pg-anvil"), persist=False)
    try:
        rpc_call(started.rpc, "anvil_setCode", ["0x" + CONTRACT.hex(), CODE])
        for i in range(6):
            data = "0x" + (1000 + 7 * i).to_bytes(32, "big").hex()
            tx = {"from": SENDER, "to": "0x" + CONTRACT.hex(), "data": data}
            rpc_call(started.rpc, "eth_sendTransaction", [tx])
            rpc_call(started.rpc, "anvil_mine", ["0x9"])
        yield started
    finally:
        stop_pid(started.pid)


def _head(node: AnvilNode) -> int:
    return int(rpc_call(node.rpc, "eth_blockNumber"), 16)


@pytest.fixture(scope="module")
def hops(node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> list[VerifiedHop]:
    """The hops of a bundle v2 of reads 55 and 31 blocks back (header chains of at
    most 2), as the history indexer cached them (in a SQLite store of its own)."""
    head = _head(node)
    store = Store(tmp_path_factory.mktemp("store-pg-hops") / "coproc.sqlite")

    async def run() -> Any:
        async with RpcClient(node.rpc) as rpc:
            reads = {b: [Read(CONTRACT, (SLOT0,))] for b in (head - 55, head - 31, head - 2)}
            return await index_history(rpc, reads, anchor=head, chain_max=2, store=store)

    try:
        _, plan = asyncio.run(run())
        assert plan.hops
        found = []
        for source, target in sorted(plan.hops):
            cached = store.cached_hops(ANVIL, source, [target]).hops
            found.append(cached[target])
    finally:
        store.close()
    return found


def test_hops_saved_and_read_back(cache: ChainCache, hops: list[VerifiedHop]) -> None:
    assert not cache.cached_hops(ANVIL, hops[0].source.number, [hops[0].target.number]).hops
    cache.save_hops(ANVIL, hops)
    cache.save_hops(ANVIL, hops)  # again: replaced, not doubled
    assert cache.counts()["hops"] == len(hops)
    by_source: dict[int, list[VerifiedHop]] = {}
    for hop in hops:
        by_source.setdefault(hop.source.number, []).append(hop)
    for source, of_source in by_source.items():
        targets = [h.target.number for h in of_source]
        found = cache.cached_hops(ANVIL, source, [*targets, source - 1])
        assert found.rejected == 0
        assert found.hops == {h.target.number: h for h in of_source}


def _tamper_hop(pg: PgStore, hop: VerifiedHop) -> None:
    """One byte of the hop's last storage-proof node (the leaf holding the hash)."""
    nodes = list(hop.storage_proof)
    leaf = bytearray(nodes[-1])
    leaf[-1] ^= 1
    nodes[-1] = bytes(leaf)
    changed = pg.conn.execute(
        "UPDATE chain_hops SET storage_proof = %s WHERE chain_id = %s AND source = %s"
        " AND target = %s",
        (pack_nodes(nodes), ANVIL, hop.source.number, hop.target.number),
    )
    assert changed.rowcount == 1


def test_a_hop_row_changed_in_postgres_is_rejected(pg_url: str, hops: list[VerifiedHop]) -> None:
    pg = PgStore(pg_url)
    try:
        pg.save_hops(ANVIL, hops)
        hop = hops[0]
        source, target = hop.source.number, hop.target.number
        assert unpack_nodes(pack_nodes(hop.storage_proof)) == hop.storage_proof
        _tamper_hop(pg, hop)
        found = pg.cached_hops(ANVIL, source, [target])
        assert (found.hops, found.rejected) == ({}, 1)
        pg.conn.execute(
            "UPDATE chain_hop_sources SET header = %s WHERE chain_id = %s AND number = %s",
            (hops[-1].target.raw, ANVIL, source),
        )  # a header of another block under the source's key
        others = [h.target.number for h in hops if h.source.number == source]
        found = pg.cached_hops(ANVIL, source, others)
        assert (found.hops, found.rejected) == ({}, len(others))
    finally:
        pg.close()


def _index(node: AnvilNode, store: ChainCache, block: int) -> tuple[VerifiedBundle, IndexStats]:
    stats = IndexStats()

    async def run() -> VerifiedBundle:
        async with RpcClient(node.rpc) as rpc:
            reads = [Read(CONTRACT, (SLOT0,)), Read(HISTORY_ADDRESS)]
            # typed Store; a PgStore is a store.ChainCache, all it uses
            return await index_block(rpc, store, block, reads, ancestors=3, stats=stats)  # type: ignore[arg-type]

    return asyncio.run(run()), stats


def test_the_indexer_serves_a_second_run_from_the_cache(cache: ChainCache, node: AnvilNode) -> None:
    """On PostgreSQL too: the native path writes while it verifies
    (``save_while_verifying``), the second run rebuilds the bundle from the cache."""
    block = _head(node) - 20
    first, stats = _index(node, cache, block)
    assert not stats.cached and stats.extra.get("verify_overlapped_with_store")
    again, stats = _index(node, cache, block)
    assert stats.cached
    assert again.bundle == first.bundle
    assert cache.counts()["headers"] == 4


# ---------------------------------------------------------------------- many writers


def _concurrently(workers: Sequence[Callable[[], None]]) -> list[BaseException]:
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_writers_on_separate_connections_save_overlapping_bundles(
    pg_url: str, bundles: list[VerifiedBundle], tmp_path: Path
) -> None:
    stores = [PgStore(pg_url) for _ in range(4)]

    def writer(i: int) -> Callable[[], None]:
        order = bundles if i % 2 else list(reversed(bundles))

        def work() -> None:
            for _ in range(3):
                for verified in order[i % len(order) :] + order[: i % len(order)]:
                    stores[i].save_verified(verified)

        return work

    try:
        assert _concurrently([writer(i) for i in range(len(stores))]) == []
        lite = Store(tmp_path / "coproc.sqlite")
        for verified in bundles:
            lite.save_verified(verified)
        assert _rows(stores[0]) == _rows(lite)  # each node once, as one writer leaves it
        lite.close()
    finally:
        for store in stores:
            store.close()


# ---------------------------------------------------------------------- schema


def _set_cache_version(url: str, version: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE chain_meta SET value = %s WHERE key = 'schema_version'", (str(version),)
        )


def test_a_newer_cache_schema_is_refused(pg_url: str, tmp_path: Path) -> None:
    newer = CACHE_SCHEMA_VERSION + 1
    _set_cache_version(pg_url, newer)
    message = f"cache schema v{newer} is newer than this coproc \\(v{CACHE_SCHEMA_VERSION}\\)"
    with pytest.raises(StoreError, match=message) as refused:
        PgStore(pg_url)
    assert "\n" not in str(refused.value)
    with pytest.raises(StoreError, match=message):
        migrate_chain_cache(pg_url)
    with pytest.raises(StoreError, match=message):
        migrate_database(pg_url, tmp_path)


def test_an_unmigrated_cache_is_refused_until_coproc_db_migrate(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    url = pg_server.new_database()
    with pytest.raises(StoreError, match=r"cache schema v0 is older .* run `coproc db migrate`"):
        open_chain_cache(url, tmp_path)
    done = migrate_database(url, tmp_path)
    assert (done.cache_version, done.cache_applied) == (CACHE_SCHEMA_VERSION, [1])
    again = migrate_database(url, tmp_path)
    assert (again.applied, again.cache_applied) == ([], [])
    store = open_chain_cache(url, tmp_path)
    assert isinstance(store, PgStore)
    store.close()
    lite = open_chain_cache("", tmp_path)  # SQLite: the data directory's coproc.sqlite
    assert isinstance(lite, Store) and lite.path == tmp_path / "coproc.sqlite"
    lite.close()


def test_concurrent_cache_migrations_apply_it_once(pg_server: PostgresServer) -> None:
    url = pg_server.new_database()
    applied: list[int] = []
    errors = _concurrently([lambda: applied.extend(migrate_chain_cache(url)[1])] * 3)
    assert errors == [] and applied == list(range(1, CACHE_SCHEMA_VERSION + 1))
    with psycopg.connect(url) as conn:
        assert cache_schema_version(conn) == CACHE_SCHEMA_VERSION


def test_both_stores_are_chain_caches(tmp_path: Path, pg_url: str) -> None:
    """What the service's worker takes (typed by ``store.ChainCache``)."""
    stores: list[ChainCache] = [Store(tmp_path / "coproc.sqlite"), PgStore(pg_url)]
    for store in stores:
        assert store.counts() == dict.fromkeys(
            ("headers", "nodes", "accounts", "slots", "hop_sources", "hops"), 0
        )
        store.close()
