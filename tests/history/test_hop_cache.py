"""The store's hop cache (coprocessor/index/hop_cache.py, store.py): on the devnet
history, behind a real counting proxy, a second index run whose later anchor reaches
the same block takes the hops below its first from the store (fewer eth_getProof and
eth_getBlockByNumber calls) and writes the bundle built without the cache, byte for
byte; a cache row changed in SQLite is rejected and that hop fetched again; a
self-consistent row of another block at the same height (a reorg) makes the bundle
fail and it is built again without the cache; a schema-1 store gains the tables."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from history.history_support import history_available
from lying_proxy import LyingProxy

from coprocessor.chain.bundle_v2 import BundleV2
from coprocessor.chain.keccak import keccak256
from coprocessor.dev.devnet import AnvilNode
from coprocessor.dev.history import CHECKPOINT_EVERY, VALUE_CONTRACT, History
from coprocessor.errors import StoreError
from coprocessor.index.history_index import HistoryStats, index_history
from coprocessor.index.hop_cache import pack_nodes, unpack_nodes
from coprocessor.index.indexer import Read
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

BACK = 60_000
WINDOW = 8191
CHAIN_ID = 31337


def _chain(history: History) -> list[int]:
    """By hand: from the target up, the highest block with a state (multiples of
    1,000 on the devnet history) within one window of the previous, while the block
    is more than a window below the first anchor (the head minus 1,000)."""
    blocks = [history.head - BACK]
    while history.head - CHECKPOINT_EVERY - blocks[-1] > WINDOW:
        blocks.append((blocks[-1] + WINDOW) // CHECKPOINT_EVERY * CHECKPOINT_EVERY)
    return blocks


@pytest.fixture(scope="module")
def proxy(history_node: AnvilNode) -> Iterator[LyingProxy]:
    server = LyingProxy(history_node.rpc).start()
    try:
        yield server
    finally:
        server.stop()


def _index(
    history: History, url: str, anchor: int, store: Store | None
) -> tuple[str, Any, HistoryStats]:
    """The bundle JSON text, the plan and the stats of one run."""
    stats = HistoryStats()

    async def run() -> Any:
        async with RpcClient(url, timeout=300) as rpc:
            reads = {history.head - BACK: [Read(VALUE_CONTRACT, (bytes(32),))]}
            return await index_history(
                rpc,
                reads,
                anchor=anchor,
                available=history_available(history),
                stats=stats,
                store=store,
            )

    verified, plan = asyncio.run(run())
    text = json.dumps(BundleV2(base=verified.bundle, hops=verified.hops).to_json())
    return text, plan, stats


@pytest.fixture(scope="module")
def filled(
    history: History, proxy: LyingProxy, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A store filled by a run anchored 1,000 blocks below the head; the bundle
    anchored at the head built without a store, and its calls."""
    path = tmp_path_factory.mktemp("hop-cache") / "filled.sqlite"
    store = Store(path)
    _, plan, _ = _index(history, proxy.url, history.head - CHECKPOINT_EVERY, store)
    store.close()
    proxy.reset()
    fresh, fresh_plan, _ = _index(history, proxy.url, history.head, None)
    calls = dict(proxy.calls)
    proxy.reset()
    return {"path": path, "plan": plan, "fresh": fresh, "fresh_plan": fresh_plan, "calls": calls}


def _copy(filled: dict[str, Any], tmp_path: Path) -> Store:
    path = tmp_path / "coproc.sqlite"
    shutil.copy(filled["path"], path)
    return Store(path)


def test_the_first_run_caches_every_hop(history: History, filled: dict[str, Any]) -> None:
    chain = _chain(history)
    anchor = history.head - CHECKPOINT_EVERY
    expected = [(anchor, chain[-1])] + [(chain[i + 1], chain[i]) for i in range(len(chain) - 1)]
    assert sorted(filled["plan"].hops) == sorted(expected)
    store = Store(filled["path"])
    try:
        rows = store.db.conn.execute("SELECT source, target FROM hops").fetchall()
        assert sorted(rows) == sorted(expected)
    finally:
        store.close()


def test_a_later_anchor_takes_the_cached_hops(
    history: History, proxy: LyingProxy, filled: dict[str, Any], tmp_path: Path
) -> None:
    store = _copy(filled, tmp_path)
    proxy.reset()
    text, plan, stats = _index(history, proxy.url, history.head, store)
    store.close()
    cached, fresh = dict(proxy.calls), filled["calls"]
    # the same bundle, byte for byte, as without the cache
    assert text == filled["fresh"]
    assert plan == filled["fresh_plan"]
    bundle = json.loads(text)
    (read,) = [a for a in bundle["accounts"] if a["address"] == "0x" + VALUE_CONTRACT.hex()]
    assert int(read["storage"][0]["value"], 16) == history.value_at(history.head - BACK)
    # the hops below the first anchor's: every hop of the first run but its top one
    chain = _chain(history)
    shared = {(chain[i + 1], chain[i]) for i in range(len(chain) - 1)}
    assert shared <= set(plan.hops) and stats.hops_cached == len(shared) == 7
    assert stats.hops_rejected == 0 and stats.cache_fallbacks == 0
    # without the cache: one history answer per hop source and the read; with it: the
    # head's answer (its hop to the chain's top) and the read
    assert fresh["eth_getProof"] == len(plan.hops) + 1 == 9
    assert cached["eth_getProof"] == 2
    # headers: every one of the bundle's without the cache; with it only the anchor's
    assert fresh["eth_getBlockByNumber"] == len(bundle["headers"]) == 9
    assert cached["eth_getBlockByNumber"] == 1
    print(
        f"RPC calls, second anchor: {sum(fresh.values())} without cache, "
        f"{sum(cached.values())} with"
    )


#: what a tamper changes: (table, column)
_COLUMNS = {
    "storage value": ("hops", "storage_proof"),
    "target header": ("hops", "target_header"),
    "source header": ("hop_sources", "header"),
    "account proof": ("hop_sources", "account_proof"),
}


def _tamper(store: Store, what: str, source: int, target: int) -> None:
    """Change one byte of one cached row, in SQLite."""
    table, column = _COLUMNS[what]
    key, args = (
        ("source = ? AND target = ?", (source, target))
        if table == "hops"
        else ("number = ?", (source,))
    )
    conn = store.db.conn
    (blob,) = conn.execute(f"SELECT {column} FROM {table} WHERE {key}", args).fetchone()
    if what == "storage value":  # the leaf's last byte: of the hash of the target
        nodes = list(unpack_nodes(blob))
        nodes[-1] = nodes[-1][:-1] + bytes([nodes[-1][-1] ^ 1])
        changed = pack_nodes(nodes)
    else:
        changed = blob[:-40] + bytes([blob[-40] ^ 1]) + blob[-39:]
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key}", (changed, *args))


@pytest.mark.parametrize(
    "what", ["storage value", "target header", "source header", "account proof"]
)
def test_a_changed_cache_row_is_rejected_and_fetched_again(
    history: History, proxy: LyingProxy, filled: dict[str, Any], tmp_path: Path, what: str
) -> None:
    chain = _chain(history)
    source, target = chain[3], chain[2]  # a hop in the middle of the chain
    store = _copy(filled, tmp_path)
    _tamper(store, what, source, target)
    assert store.cached_hops(CHAIN_ID, source, [target]).rejected == 1
    proxy.reset()
    text, _, stats = _index(history, proxy.url, history.head, store)
    assert text == filled["fresh"]
    assert stats.hops_rejected == 1 and stats.hops_cached == 6
    # the changed row's source is asked again (beside the head's answer and the read)
    assert proxy.count("eth_getProof") == 3
    # and its row holds the verified hop again
    again = store.cached_hops(CHAIN_ID, source, [target])
    assert again.rejected == 0 and set(again.hops) == {target}
    store.close()


def _other_header(raw: bytes) -> bytes:
    """The same header with another extraData: another hash, the same state root."""
    fields = rlp.decode(raw)
    fields[12] = b"reorg"
    return bytes(rlp.encode(fields))


@pytest.mark.parametrize("position", ["top", "middle"])
def test_a_cached_source_of_another_hash_is_not_used(
    history: History, proxy: LyingProxy, filled: dict[str, Any], tmp_path: Path, position: str
) -> None:
    """A row that verifies on its own but whose source is not the block the bundle
    proves at that height (what a reorg leaves): the bundle with it fails (at the top
    of the cached chain: the head's fresh hop proves another hash; in the middle: the
    hop above it holds the other header), and it is built again without the cache."""
    chain = _chain(history)
    source = chain[-1] if position == "top" else chain[3]
    store = _copy(filled, tmp_path)
    conn = store.db.conn
    (header,) = conn.execute(
        "SELECT header FROM hop_sources WHERE number = ?", (source,)
    ).fetchone()
    other = _other_header(header)
    conn.execute(
        "UPDATE hop_sources SET header = ?, hash = ? WHERE number = ?",
        (other, keccak256(other), source),
    )
    below = chain[chain.index(source) - 1]
    assert store.cached_hops(CHAIN_ID, source, [below]).rejected == 0  # consistent alone
    proxy.reset()
    text, _, stats = _index(history, proxy.url, history.head, store)
    assert text == filled["fresh"]
    assert stats.cache_fallbacks == 1
    # the row now holds the block the bundle proved
    (stored,) = conn.execute("SELECT hash FROM hop_sources WHERE number = ?", (source,)).fetchone()
    assert stored == keccak256(header)
    store.close()


def test_a_schema_1_store_gains_the_hop_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE hops")
    conn.execute("DROP TABLE hop_sources")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.counts()["hops"] == 0 and store.counts()["hop_sources"] == 0
    version = store.db.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
    assert version.fetchone()[0] == "2"
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 3"):
        Store(path)
