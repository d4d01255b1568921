"""Verified EIP-2935 hops as the store caches them (docs/formats.md, "Hop cache").

A hop ``h -> n`` proves, given the hash of block ``h``, the hash of block ``n``: the
header of ``h``, the history contract's account proof at ``h`` and the storage proof
of slot ``n % 8191`` (``chain/history.py``). :func:`verified_hop` checks one by every
rule of :func:`~coprocessor.chain.history.verify_hop` and keeps only the trie nodes
its walks use; only a :class:`VerifiedHop` enters the store, and the store checks
each row again the same way when reading it (a row changed in the file is rejected).

A cached hop enters a new bundle as the ``eth_getProof`` answer a node would give
(:func:`history_answer`), so a bundle built with cached hops is the bundle built
without them, byte for byte, and the bundle verifier checks the hop once more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coprocessor.chain.headers import Header, decode_header
from coprocessor.chain.hexutil import hexstr, to_bytes
from coprocessor.chain.history import (
    HISTORY_ADDRESS,
    HopProof,
    history_account,
    history_slot,
    stored_hash,
    verify_hop,
)
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.proofs import Account, parse_slot_key
from coprocessor.errors import VerificationError


@dataclass(frozen=True)
class VerifiedHop:
    """A hop every rule of which held, with the nodes its walks used (in the order
    given). What it proves: if ``source.hash`` is canonical, so is ``target.hash``."""

    source: Header
    target: Header
    #: the history contract's account at the source (the answer's claimed fields)
    account: Account
    account_proof: tuple[bytes, ...]
    storage_proof: tuple[bytes, ...]

    def proof(self) -> HopProof:
        """The hop as :func:`verify_hop` takes it."""
        return HopProof(
            source_header=self.source.raw,
            target_header=self.target.raw,
            account_proof=self.account_proof,
            storage_proof=self.storage_proof,
            slot=history_slot(self.target.number),
        )


def _used(nodes: Sequence[bytes], pool: NodePool) -> tuple[bytes, ...]:
    """``nodes`` a walk of ``pool`` used, each once, in their order."""
    out: list[bytes] = []
    seen: set[bytes] = set()
    for node in nodes:
        digest = keccak256(node)
        if digest in pool.used and digest not in seen:
            seen.add(digest)
            out.append(node)
    return tuple(out)


def verified_hop(
    hop: HopProof, source_hash: bytes, chain_id: int, first: int | None = None
) -> VerifiedHop:
    """Check ``hop`` from a source whose hash is ``source_hash`` (every rule of
    :func:`verify_hop`); raises the rule's error. The account and the storage proof
    are then walked apart, so each keeps only its own nodes."""
    target = verify_hop(hop, source_hash, chain_id, first)
    source = decode_header(hop.source_header, "hop source")
    where = f"hop {source.number} -> {target.number}"
    accounts = NodePool.from_nodes(hop.account_proof)
    account = history_account(accounts, source, where)
    slots = NodePool.from_nodes(hop.storage_proof)
    stored_hash(slots, account, target.number, where)
    return VerifiedHop(
        source=source,
        target=target,
        account=account,
        account_proof=_used(hop.account_proof, accounts),
        storage_proof=_used(hop.storage_proof, slots),
    )


def hop_from_answer(
    source: bytes, target: bytes, answer: Mapping[str, Any], target_number: int
) -> HopProof:
    """The hop to ``target_number`` out of an ``eth_getProof`` answer of the history
    contract at the source (header RLPs ``source`` and ``target``)."""
    slot = history_slot(target_number)
    for i, entry in enumerate(answer.get("storageProof", [])):
        if parse_slot_key(entry.get("key"), f"storageProof[{i}].key") == slot:
            return HopProof(
                source_header=source,
                target_header=target,
                account_proof=tuple(to_bytes(n, "accountProof") for n in answer["accountProof"]),
                storage_proof=tuple(to_bytes(n, "storageProof") for n in entry.get("proof", [])),
                slot=slot,
            )
    raise VerificationError(f"history answer: no storage proof of slot {target_number % 8191}")


def history_answer(hops: Sequence[VerifiedHop]) -> dict[str, Any]:
    """The ``eth_getProof`` answer of the history contract at the hops' common source
    for their slots, as a node gives it."""
    if not hops or len({hop.source.hash for hop in hops}) != 1:
        raise ValueError("history_answer: hops of one source")
    account = hops[0].account
    nodes: dict[bytes, None] = {}
    for hop in hops:
        nodes.update(dict.fromkeys(hop.account_proof))
    return {
        "address": hexstr(HISTORY_ADDRESS),
        "accountProof": [hexstr(n) for n in nodes],
        "balance": hex(account.balance),
        "codeHash": hexstr(account.code_hash),
        "nonce": hex(account.nonce),
        "storageHash": hexstr(account.storage_root),
        "storageProof": [
            {
                "key": hexstr(history_slot(hop.target.number)),
                "value": hex(int.from_bytes(hop.target.hash, "big")),
                "proof": [hexstr(n) for n in hop.storage_proof],
            }
            for hop in sorted(hops, key=lambda h: history_slot(h.target.number))
        ],
    }


def pack_nodes(nodes: Sequence[bytes]) -> bytes:
    """Nodes as one BLOB: each a 4-byte big-endian length and its bytes."""
    return b"".join(len(n).to_bytes(4, "big") + n for n in nodes)


def unpack_nodes(blob: bytes) -> tuple[bytes, ...]:
    """The nodes :func:`pack_nodes` packed; a malformed BLOB raises VerificationError."""
    out: list[bytes] = []
    pos = 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            raise VerificationError("hop cache: truncated node list")
        length = int.from_bytes(blob[pos : pos + 4], "big")
        pos += 4
        if length == 0 or pos + length > len(blob):
            raise VerificationError("hop cache: truncated node list")
        out.append(blob[pos : pos + length])
        pos += length
    return tuple(out)


__all__ = [
    "VerifiedHop",
    "history_answer",
    "hop_from_answer",
    "pack_nodes",
    "unpack_nodes",
    "verified_hop",
]
