"""One bundle holding every read of an Aave v3 account and a Morpho position: the
values computed from that bundle alone equal the protocols' views, and any
single-character change of any hex string in it is rejected by verification."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bundle_checks import single_hex_changes_rejected
from markets.markets_support import Markets
from markets.proven import addr, read_all

from coprocessor.chain.bundle import verify_bundle
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.slots import slot_bytes
from coprocessor.index.indexer import Read, index_reads
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.scoring.protocols import aave_v3, morpho_blue
from coprocessor.scoring.protocols.storage import StaticStorage, StorageSource, VerifiedStorage


def one_bundle(url: str, store: Path, block: int, pairs: dict[Any, int]) -> Any:
    """Every proven (address, slot) in one verified bundle (its JSON)."""
    by_address: dict[bytes, set[int]] = {}
    for address, slot in pairs:
        by_address.setdefault(address, set()).add(slot)
    reads = [
        Read(a, tuple(slot_bytes(s) for s in sorted(slots)))
        for a, slots in sorted(by_address.items())
    ]

    async def run() -> Any:
        db = Store(store)
        try:
            async with RpcClient(url) as rpc:
                return await index_reads(rpc, db, {block: reads}, anchor=block)
        finally:
            db.close()

    return asyncio.run(run())


def test_reads_from_one_bundle_and_its_mutations(markets: Markets, tmp_path: Path) -> None:
    meta = markets.meta
    block = next(
        s["block"] for s in meta["samples"] if s["reason"].startswith("liquidation-before")
    )
    aave_user = markets.borrowers("aave")[0]["address"]
    morpho_b = markets.borrowers("morpho")[0]
    market_id = bytes.fromhex(meta["morpho"]["markets"][morpho_b["market"]]["id"][2:])
    hashes = {k: bytes.fromhex(v[2:]) for k, v in meta["code_hashes"].items()}
    captured: list[VerifiedStorage] = []

    async def aave_read(s: StorageSource) -> Any:
        assert isinstance(s, VerifiedStorage)
        captured.append(s)
        return await aave_v3.read_account(s, addr(meta["aave"]["provider"]), addr(aave_user))

    async def morpho_read(s: StorageSource) -> Any:
        return await morpho_blue.read_position(
            s,
            addr(meta["morpho"]["morpho"]),
            market_id,
            addr(morpho_b["address"]),
            morpho_code_hash=hashes["morpho"],
            irm_code_hash=hashes["irm"],
        )

    read_all(markets.anvil.rpc, tmp_path / "a.sqlite", block, [aave_read, morpho_read])
    verified = one_bundle(
        markets.anvil.rpc, tmp_path / "b.sqlite", block, dict(captured[0].pairs())
    )

    # the reads again, from the single bundle's values only
    values = {
        (a.address, int.from_bytes(e.slot, "big")): e.value
        for a in verified.bundle.accounts
        for e in a.storage
    }
    accounts = {a.address: a.account for a in verified.bundle.accounts}
    static = StaticStorage(values, accounts, verified.header(block).timestamp)
    account = asyncio.run(
        aave_v3.read_account(static, addr(meta["aave"]["provider"]), addr(aave_user))
    )
    want = markets.node.view(
        meta["aave"]["pool"], "getUserAccountData(address)", ["uint256"] * 6, aave_user, block=block
    )
    assert account.account_data() == want
    position = asyncio.run(
        morpho_blue.read_position(
            static,
            addr(meta["morpho"]["morpho"]),
            market_id,
            addr(morpho_b["address"]),
            morpho_code_hash=hashes["morpho"],
            irm_code_hash=hashes["irm"],
        )
    )
    lens_params = tuple(
        meta["morpho"]["markets"][morpho_b["market"]][k]
        for k in ("loan_token", "collateral_token", "oracle", "irm", "lltv")
    )
    borrow = markets.node.view(
        meta["morpho"]["lens"],
        "expectedBorrowAssets(address,(address,address,address,address,uint256),address)",
        ["uint256"],
        meta["morpho"]["morpho"],
        lens_params,
        morpho_b["address"],
        block=block,
    )[0]
    assert position.borrow_assets == borrow
    assert keccak256(b"") != hashes["morpho"]

    # any single-character change of a hex string is rejected
    obj = verified.bundle.to_json()
    verify_bundle(obj)
    single_hex_changes_rejected(obj, seed=15)
