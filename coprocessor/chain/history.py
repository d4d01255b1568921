"""EIP-2935 history hops: proving the hash of an old block from a newer one.

Since Prague the history contract :data:`HISTORY_ADDRESS` keeps the hashes of the
previous :data:`WINDOW` blocks: in the state after block ``h``, storage slot
``n % 8191`` holds the hash of block ``n`` for every ``n`` in ``[h - 8191, h - 1]``
(and ``n`` at or after the chain's activation). A *hop* from ``h`` to ``n`` is:
the header of ``h`` (whose hash is already proven) -> its state root -> the account
proof of the history contract -> the storage proof of slot ``n % 8191`` -> the hash
of block ``n`` -> the header of ``n``. Each rule below raises
:class:`HistoryRuleError` naming the rule (docs/formats.md, bundle v2).

:func:`verify_hop` is the reference for one hop given as its own proofs; bundle v2
(``bundle_v2.py``) applies the same rule functions over a shared node pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coprocessor.chain.headers import Header, decode_header
from coprocessor.chain.hexutil import hexstr
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.proofs import Account, decode_account, decode_storage_value
from coprocessor.errors import VerificationError

#: the EIP-2935 history contract (the same address on every chain)
HISTORY_ADDRESS = bytes.fromhex("0000f90827f1c53a10cb7a02335b175320002935")
#: EIP-2935's HISTORY_SERVE_WINDOW: slots of the ring buffer and the longest hop
WINDOW = 8191
#: by chain id, the first block whose hash the history contract stores: the parent of
#: the Prague activation block (the fork's first block writes its parent's hash).
#: 31337 is the local devnet (anvil ``--hardfork prague`` from genesis: block 1
#: stores the hash of block 0). Other chains have no hops (header chains only).
ACTIVATIONS: dict[int, int] = {1: 22_431_083, 31337: 0}

#: the rules of a hop, in the order they are checked
RULES = (
    "hop_source",  # the source header hashes to the proven hash of its block
    "hop_range",  # from - 8191 <= to <= from - 1
    "hop_activation",  # to >= the chain's activation
    "hop_account",  # the history contract's account is proven present at the source
    "hop_slot",  # the slot read is to % 8191
    "hop_storage",  # the slot's value is proven from the contract's storage root
    "hop_value",  # that value is keccak256 of the target header
    "hop_header",  # (bundle v2) a hop's blocks are headers of the bundle
    "hop_tied",  # (bundle v2) each header is tied by its child or by exactly one hop
)


class HistoryRuleError(VerificationError):
    """A hop breaks one of :data:`RULES` (codes in spec/rule_codes.json, ``V0xx``)."""

    def __init__(self, rule: str, message: str) -> None:
        assert rule in RULES, rule
        super().__init__(message, rule=rule)

    @property
    def history_rule(self) -> str:
        """The rule's name."""
        assert self.rule is not None
        return self.rule


def activation(chain_id: int) -> int | None:
    """The first block of ``chain_id`` whose hash the history contract stores, or
    None when hops are not known for that chain."""
    return ACTIVATIONS.get(chain_id)


def history_slot(block: int) -> bytes:
    """The storage slot holding the hash of ``block`` (32 bytes)."""
    return (block % WINDOW).to_bytes(32, "big")


def reachable(source: int, target: int) -> bool:
    """Whether one hop from ``source`` can prove ``target`` (ignoring activation)."""
    return source - WINDOW <= target <= source - 1


# --------------------------------------------------------------------------- the rules


def check_source(raw: bytes, proven_hash: bytes, where: str) -> Header:
    """Rule ``hop_source``: the header RLP of the source block hashes to the hash
    proven for it (by the anchor, a parent link or an earlier hop)."""
    header = decode_header(raw, where)
    if header.hash != proven_hash:
        raise HistoryRuleError(
            "hop_source",
            f"{where}: header hashes to {hexstr(header.hash)}, "
            f"but the proven hash of block {header.number} is {hexstr(proven_hash)}",
        )
    return header


def check_range(source: int, target: int, where: str) -> None:
    """Rule ``hop_range``: the target is among the 8,191 blocks before the source."""
    if not reachable(source, target):
        raise HistoryRuleError(
            "hop_range",
            f"{where}: block {target} is not in [{source - WINDOW}, {source - 1}], "
            f"the blocks whose hashes the state after block {source} holds",
        )


def check_activation(target: int, first: int | None, chain_id: int, where: str) -> None:
    """Rule ``hop_activation``: the history contract stores the target's hash only
    from the chain's activation on."""
    if first is None:
        raise HistoryRuleError(
            "hop_activation", f"{where}: chain {chain_id} has no known EIP-2935 activation"
        )
    if target < first:
        raise HistoryRuleError(
            "hop_activation",
            f"{where}: block {target} is before the history contract's activation "
            f"(block {first} on chain {chain_id})",
        )


def check_slot(target: int, slot: bytes, where: str) -> None:
    """Rule ``hop_slot``: the slot read is ``target % 8191``."""
    if slot != history_slot(target):
        raise HistoryRuleError(
            "hop_slot",
            f"{where}: slot {hexstr(slot)} read, but block {target} is at slot {target % WINDOW}",
        )


def history_account(pool: NodePool, source: Header, where: str) -> Account:
    """Rule ``hop_account``: the history contract's account, walked from the source's
    state root, is present (its storage root is what the slot walk starts from)."""
    try:
        leaf = pool.get(source.state_root, keccak256(HISTORY_ADDRESS), where)
        account = decode_account(leaf, where) if leaf is not None else None
    except VerificationError as exc:
        raise HistoryRuleError("hop_account", f"{where}: account proof: {exc}") from None
    if account is None:
        raise HistoryRuleError(
            "hop_account", f"{where}: the history contract is absent at block {source.number}"
        )
    return account


def stored_hash(pool: NodePool, account: Account, target: int, where: str) -> int:
    """Rule ``hop_storage``: the value of slot ``target % 8191``, walked from the
    contract's storage root."""
    slot = history_slot(target)
    try:
        return decode_storage_value(pool.get(account.storage_root, keccak256(slot), where), where)
    except VerificationError as exc:
        raise HistoryRuleError("hop_storage", f"{where}: storage proof: {exc}") from None


def check_value(value: int, target: Header, where: str) -> None:
    """Rule ``hop_value``: the stored value is the hash of the target header."""
    if value != int.from_bytes(target.hash, "big"):
        raise HistoryRuleError(
            "hop_value",
            f"{where}: the history contract holds {value:#066x} for block {target.number}, "
            f"not the hash of the header given ({hexstr(target.hash)})",
        )


# --------------------------------------------------------------------------- one hop


@dataclass(frozen=True)
class HopProof:
    """One hop as its own proofs (``eth_getProof`` of the history contract at the
    source block, for the target's slot)."""

    source_header: bytes
    target_header: bytes
    account_proof: tuple[bytes, ...]
    storage_proof: tuple[bytes, ...]
    #: the slot the proof is for (32 bytes)
    slot: bytes


def verify_hop(
    hop: HopProof, source_hash: bytes, chain_id: int, first: int | None = None
) -> Header:
    """Verify one hop from a source block whose hash is proven; returns the target's
    header, now proven. ``first`` overrides the chain's activation (tests)."""
    first = activation(chain_id) if first is None else first
    source = check_source(hop.source_header, source_hash, "hop source")
    target = decode_header(hop.target_header, "hop target")
    where = f"hop {source.number} -> {target.number}"
    check_range(source.number, target.number, where)
    check_activation(target.number, first, chain_id, where)
    check_slot(target.number, hop.slot, where)
    pool = NodePool.from_nodes((*hop.account_proof, *hop.storage_proof))
    account = history_account(pool, source, where)
    value = stored_hash(pool, account, target.number, where)
    check_value(value, target, where)
    return target


def verify_hops(
    hops: Sequence[HopProof], anchor_hash: bytes, chain_id: int, first: int | None = None
) -> Header:
    """A chain of hops from the anchor: each hop's source is the previous target."""
    proven = anchor_hash
    target: Header | None = None
    for hop in hops:
        target = verify_hop(hop, proven, chain_id, first)
        proven = target.hash
    if target is None:
        raise VerificationError("hops: none given")
    return target


__all__ = [
    "ACTIVATIONS",
    "HISTORY_ADDRESS",
    "RULES",
    "WINDOW",
    "HistoryRuleError",
    "HopProof",
    "activation",
    "check_activation",
    "check_range",
    "check_slot",
    "check_source",
    "check_value",
    "history_account",
    "history_slot",
    "reachable",
    "stored_hash",
    "verify_hop",
    "verify_hops",
]
