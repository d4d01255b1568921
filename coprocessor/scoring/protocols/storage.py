"""Storage values at one block for the protocol reads, loaded in rounds (a read's
next slots depend on values already read) and each round proven: the verified
source indexes the slots through :func:`coprocessor.index.indexer.index_reads`
(headers hashed, EIP-1186 proofs checked), so every value the reads use is proven."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from coprocessor.chain.proofs import Account
from coprocessor.chain.slots import slot_bytes
from coprocessor.errors import UserInputError
from coprocessor.index.indexer import Read, index_reads
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

Pair = tuple[bytes, int]  # (address, slot number)


class StorageSource(Protocol):
    """Storage values of accounts at one block."""

    async def load(self, pairs: Iterable[Pair]) -> None:
        """Make the values of ``pairs`` (and their accounts) available."""

    def value(self, address: bytes, slot: int) -> int:
        """A loaded slot's value."""

    def account(self, address: bytes) -> Account | None:
        """A loaded account (``None`` if it does not exist)."""

    @property
    def timestamp(self) -> int:
        """The block's timestamp (from its verified header)."""


class _Lookup:
    """Reads of values already present (``values``, ``accounts``)."""

    values: dict[Pair, int]
    accounts: dict[bytes, Account | None]

    def value(self, address: bytes, slot: int) -> int:
        """A present value (an absent pair is refused)."""
        try:
            return self.values[(address, slot)]
        except KeyError:
            raise UserInputError(f"slot {hex(slot)} of 0x{address.hex()} was not read") from None

    def account(self, address: bytes) -> Account | None:
        """A present account (``None``: it does not exist)."""
        if address not in self.accounts:
            raise UserInputError(f"account 0x{address.hex()} was not read")
        return self.accounts[address]


@dataclass
class StaticStorage(_Lookup):
    """Values given up front (tests, or a bundle already verified)."""

    values: dict[Pair, int]
    accounts: dict[bytes, Account | None]
    block_timestamp: int

    async def load(self, pairs: Iterable[Pair]) -> None:
        """Everything is present already; a missing pair is an error at use."""

    @property
    def timestamp(self) -> int:
        """The given timestamp."""
        return self.block_timestamp


@dataclass
class VerifiedStorage(_Lookup):
    """Values proven at ``block``: each round is one verified bundle. Reads running
    concurrently (``asyncio.gather`` over many users) share rounds: their ``load``
    calls are gathered into one ``index_reads``."""

    rpc: RpcClient
    store: Store
    block: int
    values: dict[Pair, int] = field(default_factory=dict)
    accounts: dict[bytes, Account | None] = field(default_factory=dict)
    header_timestamp: int | None = None
    rounds: int = 0
    _pending: set[Pair] = field(default_factory=set)
    _flush: asyncio.Future[None] | None = None

    def _missing(self, pairs: Iterable[Pair]) -> set[Pair]:
        return {(a, s) for a, s in pairs if (a, s) not in self.values or a not in self.accounts}

    async def load(self, pairs: Iterable[Pair]) -> None:
        """Index the pairs not loaded yet (with whatever other reads ask for at the
        same time: one bundle) and keep the proven values."""
        wanted = self._missing(pairs)
        while wanted:
            self._pending |= wanted
            if self._flush is None:
                self._flush = asyncio.ensure_future(self._run())
            await asyncio.shield(self._flush)
            wanted = self._missing(wanted)

    async def _run(self) -> None:
        for _ in range(3):  # let the other reads of this round queue their pairs
            await asyncio.sleep(0)
        pending, self._pending = self._pending, set()
        self._flush = None
        await self._index(pending)

    async def _index(self, pairs: set[Pair]) -> None:
        wanted: dict[bytes, set[int]] = {}
        for address, slot in pairs:
            wanted.setdefault(address, set()).add(slot)
        reads = [
            Read(a, tuple(slot_bytes(s) for s in sorted(slots)))
            for a, slots in sorted(wanted.items())
        ]
        verified = await index_reads(self.rpc, self.store, {self.block: reads}, anchor=self.block)
        self.rounds += 1
        self.header_timestamp = verified.header(self.block).timestamp
        for read in verified.bundle.accounts:
            self.accounts[read.address] = read.account
            for entry in read.storage:
                self.values[(read.address, int.from_bytes(entry.slot, "big"))] = entry.value

    @property
    def timestamp(self) -> int:
        """The verified header's timestamp (after the first round)."""
        if self.header_timestamp is None:
            raise UserInputError("no storage read yet: the block's header is not verified")
        return self.header_timestamp

    def pairs(self) -> Mapping[Pair, int]:
        """Every proven (address, slot) and its value (what a single bundle for the
        guest would hold)."""
        return dict(self.values)
