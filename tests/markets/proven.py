"""Run the protocol reads over verified storage at one block (all users at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.scoring.protocols.storage import StorageSource, VerifiedStorage

T = TypeVar("T")


def read_all(
    url: str,
    store_path: Path,
    block: int,
    readers: Sequence[Callable[[StorageSource], Awaitable[T]]],
) -> tuple[list[T], int]:
    """Each reader's result over one VerifiedStorage at ``block``, and the number of
    verified bundles (rounds) it took."""

    async def run() -> tuple[list[T], int]:
        store = Store(store_path)
        try:
            async with RpcClient(url) as rpc:
                storage = VerifiedStorage(rpc, store, block)
                results = await asyncio.gather(*(reader(storage) for reader in readers))
                return list(results), storage.rounds
        finally:
            store.close()

    return asyncio.run(run())


def addr(hex_address: str) -> bytes:
    """20 bytes of a ``0x`` address."""
    return bytes.fromhex(hex_address.removeprefix("0x"))
