"""Protocol reads (docs/formats.md §3c) evaluated: the protocol modules
(:mod:`coprocessor.scoring.protocols`) run over a storage that answers ONLY from a
verified bundle's values (:class:`BundleStorage`: a slot or account the bundle does
not hold breaks ``feature_read_present``, never reads as zero), and a field of the
result becomes the feature's raw value."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from coprocessor.chain.bundle import AccountRead, VerifiedBundle
from coprocessor.chain.proofs import Account
from coprocessor.chain.slots import slot_bytes
from coprocessor.errors import CoprocessorError, UserInputError
from coprocessor.scoring.protocol_spec import AaveRead, ProtocolRead
from coprocessor.scoring.protocols import aave_v3, morpho_blue
from coprocessor.scoring.protocols.aave_math import UINT256_MAX
from coprocessor.scoring.protocols.storage import Pair, StorageSource

T = TypeVar("T")
Result = aave_v3.AaveAccount | aave_v3.ReservePosition | morpho_blue.MorphoPosition


#: the protocol reads' clock stops at 2^64 - 1: the Rust core keeps a header's time as a u64
TIME_CAP = 2**64 - 1


def protocol_time(header_timestamp: int) -> int:
    """The time a protocol read accrues to: the header's timestamp, capped at 2^64 - 1
    (docs/formats.md §3c), as the Rust core caps it."""
    return min(header_timestamp, TIME_CAP)


def _missing(what: str, address: bytes, block: int) -> UserInputError:
    return UserInputError(
        f"the bundle has no {what}0x{address.hex()} at block {block}",
        rule="feature_read_present",
    )


class BundleStorage:
    """A :class:`~coprocessor.scoring.protocols.storage.StorageSource` over a verified
    bundle's reads at one block: ``load`` fetches nothing, ``value``/``account`` answer
    from the bundle (an account the bundle proves absent has empty storage)."""

    def __init__(
        self,
        reads: Mapping[tuple[int, bytes], AccountRead],
        slots: dict[tuple[int, bytes], dict[bytes, int]],
        block: int,
        timestamp: int,
    ) -> None:
        self.reads = reads
        self.slots = slots  # (block, address) -> {slot: value}, filled on first use
        self.block = block
        self.block_timestamp = protocol_time(timestamp)

    async def load(self, pairs: Iterable[Pair]) -> None:
        """Nothing to fetch: every value is in the bundle or missing."""

    def account(self, address: bytes) -> Account | None:
        """The proven account (``None``: proven absent)."""
        read = self.reads.get((self.block, address))
        if read is None:
            raise _missing("read of ", address, self.block)
        return read.account

    def value(self, address: bytes, slot: int) -> int:
        """The proven slot value (0 in an account proven absent)."""
        if self.account(address) is None:
            return 0
        key = (self.block, address)
        if key not in self.slots:
            self.slots[key] = {s.slot: s.value for s in self.reads[key].storage}
        word = self.slots[key].get(slot_bytes(slot))
        if word is None:
            raise _missing(f"slot 0x{slot_bytes(slot).hex()} of ", address, self.block)
        return word

    @property
    def timestamp(self) -> int:
        """The verified header's timestamp (capped: :func:`protocol_time`)."""
        return self.block_timestamp


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a protocol read over a :class:`BundleStorage` to its end without an event
    loop (its ``load`` never waits, so the coroutine finishes on its first step)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a protocol read over a bundle waited for I/O")


def _address(text: str) -> bytes:
    return bytes.fromhex(text[2:])


async def read_protocol(read: ProtocolRead, storage: StorageSource, user: bytes) -> Result:
    """What the protocol computes for ``user`` (every field of ``read``'s entry)."""
    if isinstance(read, AaveRead):
        provider = _address(read.provider)
        if read.asset is None:
            return await aave_v3.read_account(storage, provider, user)
        return await aave_v3.read_reserve(storage, provider, user, _address(read.asset))
    return await morpho_blue.read_position(
        storage,
        _address(read.morpho),
        _address(read.market_id),
        user,
        morpho_code_hash=_address(read.morpho_code_hash),
        irm_code_hash=_address(read.irm_code_hash),
    )


def field_value(field: str, result: Result) -> int:
    """One field of a protocol read's result, as docs/formats.md §3c defines it."""
    values: dict[str, int]
    if isinstance(result, aave_v3.AaveAccount):
        values = {
            "total_collateral_base": result.total_collateral_base,
            "total_debt_base": result.total_debt_base,
            "available_borrows_base": result.available_borrows_base,
            "liquidation_threshold": result.current_liquidation_threshold,
            "ltv": result.ltv,
            "health_factor": result.health_factor,
            "emode_category": result.emode_category,
        }
    elif isinstance(result, aave_v3.ReservePosition):
        values = {
            "a_token_balance": result.a_token_balance,
            "variable_debt": result.variable_debt,
            "stable_debt": result.stable_debt,
            "price": result.price,
        }
    elif field == "health_factor":  # computed for this field only (it may overflow)
        health = result.health_factor
        values = {"health_factor": UINT256_MAX if health is None else health}
    else:
        values = {
            "supply_shares": result.supply_shares,
            "borrow_shares": result.borrow_shares,
            "collateral": result.collateral,
            "supply_assets": result.supply_assets,
            "borrow_assets": result.borrow_assets,
            "total_supply_assets": result.expected.total_supply_assets,
            "total_borrow_assets": result.expected.total_borrow_assets,
            "oracle_price": result.oracle_price,
            "lltv": result.params.lltv,
            "max_borrow": result.max_borrow,
            "healthy": int(result.healthy),
        }
    value = values[field]
    assert 0 <= value <= UINT256_MAX
    return value


class ProtocolValues:
    """Protocol reads over one verified bundle; features that differ only by field
    share one read (per entry, block and subject)."""

    def __init__(
        self,
        verified: VerifiedBundle,
        reads: Mapping[tuple[int, bytes], AccountRead],
        slots: dict[tuple[int, bytes], dict[bytes, int]],
    ) -> None:
        self.timestamps = {h.number: h.timestamp for h in verified.headers}
        self.reads = reads
        self.slots = slots
        self.results: dict[tuple[tuple[str, ...], int, str], Result] = {}

    def value(self, read: ProtocolRead, block: int, subject: str, name: str) -> int:
        """Feature ``name``'s raw value: ``read``'s field for ``subject`` (lowercase
        0x-hex) at ``block``; errors name the feature and keep their rule."""
        key = (read.entry, block, subject)
        if key not in self.results:
            try:
                if block not in self.timestamps:
                    raise UserInputError(
                        f"the bundle has no header of block {block}", rule="feature_read_present"
                    )
                storage = BundleStorage(self.reads, self.slots, block, self.timestamps[block])
                self.results[key] = run_sync(read_protocol(read, storage, _address(subject)))
            except CoprocessorError as exc:
                raise type(exc)(f"feature {name!r}: {exc.message}", rule=exc.rule) from None
        return field_value(read.field, self.results[key])


__all__ = [
    "BundleStorage",
    "ProtocolValues",
    "field_value",
    "protocol_time",
    "read_protocol",
    "run_sync",
]
