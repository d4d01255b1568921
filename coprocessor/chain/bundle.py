"""Proof bundle v1: building, parsing and verifying (docs/formats.md, section 1).

A bundle is the indexer's output and the zkVM guest's input. :func:`verify_bundle`
applies every rule of the format; anything that does not verify raises
:class:`VerificationError` naming the header, account, slot or node at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from coprocessor.chain.headers import Header, decode_header, verify_chain
from coprocessor.chain.hexutil import hexstr, quantity, to_bytes, to_quantity
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.proofs import (
    ABSENT_CLAIMS,
    Account,
    claimed_account,
    claimed_int,
    decode_account,
    decode_storage_value,
    parse_slot_key,
)
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.jsonfile import load_json

FORMAT = "coproc-bundle"
VERSION = 1
#: nodes answer a proof in an empty trie with this node (RLP of ""); a walk from the
#: empty root never loads it, so it must not enter the pool (it would be unused)
EMPTY_TRIE_NODE = b"\x80"
_T = TypeVar("_T")


@dataclass(frozen=True)
class StorageRead:
    """One storage slot of an account read and its claimed value."""

    slot: bytes
    value: int
    #: keccak256(slot), the secure-trie path (computed once)
    key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", keccak256(self.slot))

    @classmethod
    def prehashed(cls, slot: bytes, value: int, key: bytes) -> StorageRead:
        """A read whose ``key`` (keccak256 of ``slot``) was computed by the native
        builder, which hashes in bulk; verification checks ``key`` against ``slot``
        anyway (rule 3), so a wrong key could only make a bundle fail."""
        read = cls.__new__(cls)
        read.__dict__.update(slot=slot, value=value, key=key)
        return read


@dataclass(frozen=True)
class AccountRead:
    """One account at one block, with the storage slots read from it."""

    block: int
    address: bytes
    account: Account | None
    storage: tuple[StorageRead, ...]
    #: keccak256(address), the secure-trie path (computed once)
    key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", keccak256(self.address))

    def to_json(self) -> dict[str, Any]:
        """Bundle JSON form (with the redundant key hashes)."""
        return {
            "block": self.block,
            "address": hexstr(self.address),
            "address_hash": hexstr(self.key),
            "account": self.account.to_json() if self.account else None,
            "storage": [
                {
                    "slot": hexstr(s.slot),
                    "slot_hash": hexstr(s.key),
                    "value": quantity(s.value),
                }
                for s in self.storage
            ],
        }

    def values_json(self) -> dict[str, Any]:
        """verify-bundle JSON form: ``{slot: value}``."""
        return {
            "block": self.block,
            "address": hexstr(self.address),
            "account": self.account.to_json() if self.account else None,
            "storage": {hexstr(s.slot): quantity(s.value) for s in self.storage},
        }


@dataclass(frozen=True)
class Bundle:
    """A parsed (not yet verified) bundle."""

    chain_id: int
    anchor_number: int
    anchor_hash: bytes
    headers: tuple[bytes, ...]
    accounts: tuple[AccountRead, ...]
    nodes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The bundle file's JSON object."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "chain_id": self.chain_id,
            "anchor": {"number": self.anchor_number, "hash": hexstr(self.anchor_hash)},
            "headers": [hexstr(h) for h in self.headers],
            "accounts": [a.to_json() for a in self.accounts],
            "nodes": [hexstr(n) for n in self.nodes],
        }


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle every rule of which held: its headers and proven values."""

    bundle: Bundle
    headers: tuple[Header, ...]
    #: keccak256 of each node of ``bundle.nodes``, in order (computed while verifying)
    node_hashes: tuple[bytes, ...] = ()

    @property
    def anchor(self) -> Header:
        """The last header, which a verifier checks against a trusted block hash."""
        return self.headers[-1]

    def header(self, number: int) -> Header:
        """The verified header of block ``number``."""
        for header in self.headers:
            if header.number == number:
                return header
        raise UserInputError(f"block {number} is not in the bundle")

    def to_json(self) -> dict[str, Any]:
        """What ``coproc verify-bundle`` prints (input of the feature code)."""
        read_blocks = {a.block for a in self.bundle.accounts}
        return {
            "chain_id": self.bundle.chain_id,
            "anchor": {"number": self.anchor.number, "hash": hexstr(self.anchor.hash)},
            "blocks": [
                {"number": h.number, "hash": hexstr(h.hash), "state_root": hexstr(h.state_root)}
                for h in self.headers
                if h.number in read_blocks or h is self.anchor
            ],
            "accounts": [a.values_json() for a in self.bundle.accounts],
        }


# ----------------------------------------------------------------------------- parsing


def _field(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise UserInputError(f"{where}: missing field {key!r}", rule="bundle_keys")
    return obj[key]


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UserInputError(f"{where}: expected a non-negative integer", rule="bundle_types")
    return value


def _type_error(where: str, expected: str) -> UserInputError:
    return UserInputError(f"{where}: expected {expected}", rule="bundle_types")


def _hex(value: object, where: str, size: int | None = None) -> bytes:
    """``to_bytes`` under rule 6 (its errors carry the bundle_hex code)."""
    try:
        return to_bytes(value, where, size)
    except UserInputError as exc:
        raise UserInputError(exc.message, rule="bundle_hex") from None


def _quantity(value: object, where: str) -> int:
    """``to_quantity`` under rule 6, at most 256 bits."""
    try:
        number = to_quantity(value, where)
    except UserInputError as exc:
        raise UserInputError(exc.message, rule="bundle_hex") from None
    if number >= 2**256:
        raise UserInputError(f"{where}: more than 256 bits", rule="bundle_hex")
    return number


_TOP_KEYS = ("format", "version", "chain_id", "anchor", "headers", "accounts", "nodes")
_ACCOUNT_KEYS = ("nonce", "balance", "storage_root", "code_hash")


def _known_keys(obj: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    """Only the keys of the format (as the Rust reader requires): an extra key is
    data no verification covers."""
    unknown = sorted(set(obj) - set(keys))
    if unknown:
        raise UserInputError(f"{where}: unknown key {unknown[0]!r}", rule="bundle_keys")


def _all_lowercase_hex(value: object) -> bool:
    """The fast pass of :func:`_require_lowercase_hex` (no paths, no messages): True
    only if that check passes. Other types than str/dict/list and their subclasses
    (e.g. ints) are left to it."""
    stack: list[object] = [value]
    match = _LOWER_HEX_RE.fullmatch
    while stack:
        item = stack.pop()
        if type(item) is str:
            if match(item) is None:
                return False
        elif type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif isinstance(item, str | Mapping | list):
            return False
    return True


def _require_lowercase_hex(value: object, where: str) -> None:
    """Every string of a bundle is lowercase ``0x``-hex (formats.md conventions):
    one spelling per value, so changing any character of a hex string is rejected
    (``to_bytes`` alone would accept ``0X``/``A-F`` spellings of the same bytes)."""
    if _all_lowercase_hex(value):
        return  # else walk again, naming where
    if isinstance(value, str):
        if not value.startswith("0x") or value[2:].strip(_LOWER_HEX):
            raise UserInputError(f"{where}: not lowercase 0x-hex: {value!r:.80}", rule="bundle_hex")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _require_lowercase_hex(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _require_lowercase_hex(item, f"{where}[{i}]")


_LOWER_HEX = "0123456789abcdef"
_LOWER_HEX_RE = re.compile(r"0x[0-9a-f]*")


def _storage_fast(entry: object) -> StorageRead | None:
    """One storage entry of a bundle whose strings passed the lowercase-hex check,
    when it is plainly well-formed: ``None`` for anything else (then the checks of
    :func:`parse_bundle` run and name the fault)."""
    if type(entry) is not dict or entry.keys() != _STORAGE_KEYS:
        return None
    slot, slot_hash, value = entry["slot"], entry["slot_hash"], entry["value"]
    if not (type(slot) is str and type(slot_hash) is str and type(value) is str):
        return None
    # 32-byte slot and hash; a quantity of 1..64 digits without leading zeros
    if len(slot) != 66 or len(slot_hash) != 66 or not 3 <= len(value) <= 66:
        return None
    if value[2] == "0" and len(value) > 3:
        return None
    read = StorageRead(slot=bytes.fromhex(slot[2:]), value=int(value, 16))
    return read if bytes.fromhex(slot_hash[2:]) == read.key else None


def _hex_list(items: list[Any]) -> tuple[bytes, ...] | None:
    """Lowercase-checked ``0x``-hex strings decoded, or None if one is not plainly
    even-length hex (the per-item parse then names it)."""
    if not all(type(item) is str for item in items):
        return None
    try:
        return tuple(bytes.fromhex(item[2:]) for item in items)
    except ValueError:
        return None


_STORAGE_KEYS = {"slot", "slot_hash", "value"}


def parse_bundle(obj: object) -> Bundle:
    """Parse bundle JSON strictly (types, hex, sizes); check the redundant key hashes."""
    if not isinstance(obj, Mapping):
        raise _type_error("bundle", "a JSON object")
    if obj.get("format") != FORMAT:
        raise UserInputError(
            f"bundle: format is {obj.get('format')!r}, expected {FORMAT!r}", rule="bundle_format"
        )
    if type(obj.get("version")) is not int or obj.get("version") != VERSION:  # not true/1.0
        raise UserInputError(
            f"bundle: unsupported version {obj.get('version')!r}", rule="bundle_version"
        )
    _require_lowercase_hex({k: v for k, v in obj.items() if k != "format"}, "bundle")
    _known_keys(obj, _TOP_KEYS, "bundle")
    anchor = _field(obj, "anchor", "bundle")
    if not isinstance(anchor, Mapping):
        raise _type_error("bundle.anchor", "an object")
    _known_keys(anchor, ("number", "hash"), "bundle.anchor")
    headers = _field(obj, "headers", "bundle")
    accounts = _field(obj, "accounts", "bundle")
    nodes = _field(obj, "nodes", "bundle")
    for name, value in (("headers", headers), ("accounts", accounts), ("nodes", nodes)):
        if not isinstance(value, list):
            raise _type_error(f"bundle.{name}", "a list")
    reads: list[AccountRead] = []
    for i, acc in enumerate(accounts):
        where = f"accounts[{i}]"
        if not isinstance(acc, Mapping):
            raise _type_error(where, "an object")
        _known_keys(acc, ("block", "address", "address_hash", "account", "storage"), where)
        address = _hex(_field(acc, "address", where), f"{where}.address", 20)
        address_hash = _hex(_field(acc, "address_hash", where), f"{where}.address_hash", 32)
        raw_account = _field(acc, "account", where)
        account = None if raw_account is None else _account(raw_account, f"{where}.account")
        storage_list = _field(acc, "storage", where)
        if not isinstance(storage_list, list):
            raise _type_error(f"{where}.storage", "a list")
        storage: list[StorageRead] = []
        for j, entry in enumerate(storage_list):
            fast = _storage_fast(entry)
            if fast is not None:
                storage.append(fast)
                continue
            swhere = f"{where}.storage[{j}]"
            if not isinstance(entry, Mapping):
                raise _type_error(swhere, "an object")
            _known_keys(entry, ("slot", "slot_hash", "value"), swhere)
            slot = _hex(_field(entry, "slot", swhere), f"{swhere}.slot", 32)
            slot_hash = _hex(_field(entry, "slot_hash", swhere), f"{swhere}.slot_hash", 32)
            value = _quantity(_field(entry, "value", swhere), f"{swhere}.value")
            slot_read = StorageRead(slot=slot, value=value)
            if slot_hash != slot_read.key:
                raise VerificationError(
                    f"{swhere}: slot_hash is not keccak256(slot)", rule="slot_hash"
                )
            storage.append(slot_read)
        read = AccountRead(
            block=_int(_field(acc, "block", where), f"{where}.block"),
            address=address,
            account=account,
            storage=tuple(storage),
        )
        if address_hash != read.key:
            raise VerificationError(
                f"{where}: address_hash is not keccak256(address)", rule="address_hash"
            )
        reads.append(read)
    chain_id = _int(_field(obj, "chain_id", "bundle"), "bundle.chain_id")
    if chain_id >= 2**64:  # journal v1 commits it as uint64 (formats.md §1 rule 5)
        raise UserInputError("bundle.chain_id: must be below 2^64", rule="bundle_chain_id")
    return Bundle(
        chain_id=chain_id,
        anchor_number=_int(_field(anchor, "number", "bundle.anchor"), "bundle.anchor.number"),
        anchor_hash=_hex(_field(anchor, "hash", "bundle.anchor"), "bundle.anchor.hash", 32),
        headers=_hex_list(headers)
        or tuple(_hex(h, f"headers[{i}]") for i, h in enumerate(headers)),
        accounts=tuple(reads),
        nodes=_hex_list(nodes) or tuple(_hex(n, f"nodes[{i}]") for i, n in enumerate(nodes)),
    )


def _account(raw: object, where: str) -> Account:
    """The claimed account of a read (rule 2's ``account``, not null)."""
    if not isinstance(raw, Mapping):
        raise _type_error(where, "an object")
    _known_keys(raw, _ACCOUNT_KEYS, where)
    return Account(
        nonce=_quantity(_field(raw, "nonce", where), f"{where}.nonce"),
        balance=_quantity(_field(raw, "balance", where), f"{where}.balance"),
        storage_root=_hex(_field(raw, "storage_root", where), f"{where}.storage_root", 32),
        code_hash=_hex(_field(raw, "code_hash", where), f"{where}.code_hash", 32),
    )


def load_bundle(path: str | Path) -> Bundle:
    """Read and parse a bundle file; unreadable or truncated files are user errors."""
    return parse_bundle(load_json(path, "bundle"))


# ----------------------------------------------------------------------------- verifying


def node_pool(
    nodes: Sequence[bytes], decoded: dict[bytes, Any] | None = None
) -> tuple[NodePool, tuple[bytes, ...]]:
    """Rule 4's order and uniqueness while hashing each node once: the pool and the
    nodes' hashes in order (shared by bundle v1 and v2)."""
    pool = NodePool(decoded=decoded if decoded is not None else {})
    previous = b""
    digests = []
    for i, node in enumerate(nodes):
        digest = pool.add(node)
        digests.append(digest)
        if digest <= previous:
            raise VerificationError(
                f"nodes[{i}]: pool not strictly ascending by keccak256 (duplicate or out of order)",
                rule="nodes_ascending",
            )
        previous = digest
    return pool, tuple(digests)


def verify_reads(bundle: Bundle, by_number: Mapping[int, Header], pool: NodePool) -> None:
    """Rules 2 and 3: every read proven from its block's state root (shared by bundle
    v1 and v2; rule 4's unused nodes are checked by the caller afterwards)."""
    seen_reads: set[tuple[int, bytes]] = set()
    for i, read in enumerate(bundle.accounts):
        where = f"accounts[{i}] ({hexstr(read.address)} @ {read.block})"
        header = by_number.get(read.block)
        if header is None:
            raise VerificationError(
                f"{where}: block {read.block} is not among the headers", rule="read_block"
            )
        if (read.block, read.address) in seen_reads:
            raise VerificationError(f"{where}: duplicate read", rule="read_unique")
        seen_reads.add((read.block, read.address))
        leaf = pool.get(header.state_root, read.key, f"{where} account proof")
        proven = decode_account(leaf, where) if leaf is not None else None
        if proven != read.account:
            raise VerificationError(
                f"{where}: claimed account differs from the proven one", rule="account_proven"
            )
        seen_slots: set[bytes] = set()
        for slot_read in read.storage:
            swhere = f"{where} slot {hexstr(slot_read.slot)}"
            if slot_read.slot in seen_slots:
                raise VerificationError(f"{swhere}: duplicate slot", rule="slot_unique")
            seen_slots.add(slot_read.slot)
            if proven is None:
                value = 0
            else:
                value = decode_storage_value(
                    pool.get(proven.storage_root, slot_read.key, swhere), swhere
                )
            if value != slot_read.value:
                raise VerificationError(
                    f"{swhere}: claimed value {hex(slot_read.value)} != proven {hex(value)}",
                    rule="storage_proven",
                )


def check_anchor(anchor: Header, number: int, block_hash: bytes) -> None:
    """The bundle's anchor is its last header: same hash, same number (rules anchor_hash,
    anchor_number; bundle v1 and v2)."""
    if anchor.hash != block_hash:
        raise VerificationError(
            f"anchor: hash of the last header {hexstr(anchor.hash)} != anchor.hash "
            f"{hexstr(block_hash)}",
            rule="anchor_hash",
        )
    if anchor.number != number:
        raise VerificationError(
            f"anchor: the last header is block {anchor.number}, not {number}",
            rule="anchor_number",
        )


def verify_bundle(
    bundle: Bundle | Mapping[str, Any], *, _decoded: dict[bytes, Any] | None = None
) -> VerifiedBundle:
    """Apply every rule of bundle v1. Returns the verified bundle or raises.

    ``_decoded`` lets :func:`build_bundle` share node decodes it already made
    (keyed by node hash, so a decode can only be reused for the same bytes)."""
    if not isinstance(bundle, Bundle):
        bundle = parse_bundle(bundle)
    if not bundle.headers:
        raise VerificationError("bundle: no headers", rule="bundle_headers")
    headers = tuple(decode_header(raw, f"headers[{i}]") for i, raw in enumerate(bundle.headers))
    verify_chain(headers)
    anchor = headers[-1]
    check_anchor(anchor, bundle.anchor_number, bundle.anchor_hash)
    by_number = {h.number: h for h in headers}

    pool, digests = node_pool(bundle.nodes, _decoded)
    verify_reads(bundle, by_number, pool)
    unused = pool.unused()
    if unused:
        raise VerificationError(
            f"nodes: {len(unused)} node(s) not used by any proof, first {hexstr(unused[0])}",
            rule="nodes_used",
        )
    return VerifiedBundle(bundle=bundle, headers=headers, node_hashes=digests)


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True)
class ProofAtBlock:
    """One ``eth_getProof`` answer taken at ``block``."""

    block: int
    response: Mapping[str, Any]


def proven_account(
    pool: NodePool, state_root: bytes, item: ProofAtBlock
) -> tuple[bytes, Account | None, str]:
    """(address, proven account or None, where) of one ``eth_getProof`` answer, walked
    from ``state_root``; the node's claimed account fields must match what is proven.
    Whether an account exists is read from the proof itself (a node's zero-valued claim
    cannot tell an absent account from an empty one)."""
    address = to_bytes(item.response.get("address"), "proof.address", 20)
    where = f"account {hexstr(address)} @ {item.block}"
    leaf = pool.get(state_root, keccak256(address), where)
    account = decode_account(leaf, where) if leaf is not None else None
    claimed = claimed_account(item.response, where)
    if account is None and claimed is not None and claimed not in ABSENT_CLAIMS:
        raise VerificationError(f"{where}: node claims an account the proof shows absent")
    if account is not None and claimed != account:
        raise VerificationError(f"{where}: claimed account fields differ from the proof")
    return address, account, where


#: How one ``eth_getProof`` answer's storage proofs become reads, the step where the
#: Python and native builders differ. Called with the answer's index, the answer,
#: where it is (for messages) and the node pool, or ``None`` when the account is
#: absent (an absent account has no storage trie to prove, so no node of it enters
#: the pool). Returns the reads sorted by slot and what the builder keeps beside them.
StorageStep = Callable[
    [int, ProofAtBlock, str, NodePool | None], tuple[tuple[StorageRead, ...], _T]
]


@dataclass(frozen=True)
class Assembled(Generic[_T]):
    """A bundle as assembled, before verification, with what verifying it reuses."""

    bundle: Bundle
    headers: tuple[Header, ...]
    pool: NodePool
    #: ``pool.nodes`` keys in bundle order (sorted)
    digests: tuple[bytes, ...]
    #: per account read, in bundle order: what the storage step returned beside it
    extras: tuple[_T, ...]


def pool_hex_nodes(pool: NodePool, seen: set[str], nodes: Iterable[str], what: str) -> None:
    """Add hex proof nodes to ``pool``, each distinct string once (proofs of one
    contract repeat their upper nodes); the empty-trie node never enters."""
    for node in nodes:
        if node not in seen:
            seen.add(node)
            raw = to_bytes(node, what)
            if raw != EMPTY_TRIE_NODE:
                pool.add(raw)


def assemble_bundle(
    chain_id: int,
    raws: Sequence[bytes],
    items: Sequence[ProofAtBlock],
    storage_step: StorageStep[_T],
) -> Assembled[_T]:
    """The loop both builders share: headers decoded and linked (a broken chain is the
    first thing to report), every account proof node pooled, each answer's account
    proven from its block's state root, its storage read by ``storage_step``, reads
    sorted by (block, address) and nodes by hash. Nothing is verified beyond the
    account walks: the caller verifies the bundle."""
    if not raws:
        raise UserInputError("a bundle needs at least one header")
    headers = tuple(decode_header(raw, f"headers[{i}]") for i, raw in enumerate(raws))
    verify_chain(headers)
    by_number = {h.number: h for h in headers}
    pool = NodePool()
    seen: set[str] = set()
    for item in items:
        pool_hex_nodes(pool, seen, item.response.get("accountProof", []), "accountProof")
    reads: list[tuple[AccountRead, _T]] = []
    for index, item in enumerate(items):
        header = by_number.get(item.block)
        if header is None:
            raise UserInputError(f"proof for block {item.block}, which is not among the headers")
        address, account, where = proven_account(pool, header.state_root, item)
        storage, extra = storage_step(index, item, where, pool if account is not None else None)
        reads.append((AccountRead(item.block, address, account, storage), extra))
    reads.sort(key=lambda r: (r[0].block, r[0].address))
    digests = tuple(sorted(pool.nodes))
    bundle = Bundle(
        chain_id=chain_id,
        anchor_number=headers[-1].number,
        anchor_hash=headers[-1].hash,
        headers=tuple(raws),
        accounts=tuple(read for read, _ in reads),
        nodes=tuple(map(pool.nodes.__getitem__, digests)),
    )
    return Assembled(bundle, headers, pool, digests, tuple(extra for _, extra in reads))


def build_bundle(
    chain_id: int,
    headers: Sequence[bytes],
    proofs: Iterable[ProofAtBlock],
) -> VerifiedBundle:
    """Assemble a bundle from header RLPs (consecutive, ascending, last = anchor) and
    ``eth_getProof`` answers, then verify it with :func:`verify_bundle`.

    Proof nodes go into the deduplicated pool (only nodes the walks use are kept);
    the node's claims become the bundle's claims, which verification then checks.
    Whether an account exists is read from the proof itself (a node's zero-valued
    claim cannot tell an absent account from an empty one)."""
    seen: set[str] = set()  # storage proofs of one contract repeat their upper nodes

    def storage(
        _index: int, item: ProofAtBlock, where: str, pool: NodePool | None
    ) -> tuple[tuple[StorageRead, ...], None]:
        reads = []
        for j, entry in enumerate(item.response.get("storageProof", [])):
            slot = parse_slot_key(entry.get("key"), f"{where} storageProof[{j}].key")
            value = claimed_int(entry.get("value"), f"{where} storageProof[{j}].value")
            reads.append(StorageRead(slot=slot, value=value))
            if pool is not None:
                pool_hex_nodes(pool, seen, entry.get("proof", []), "storageProof")
        reads.sort(key=lambda s: s.slot)
        return tuple(reads), None

    # Every node goes in; verify_bundle rejects the bundle if one is not on a walked
    # path (a node that sends more than the path is lying, not quirky).
    assembled = assemble_bundle(chain_id, headers, list(proofs), storage)
    return verify_bundle(assembled.bundle, _decoded=assembled.pool.decoded)


__all__ = [
    "AccountRead",
    "Assembled",
    "Bundle",
    "ProofAtBlock",
    "StorageRead",
    "StorageStep",
    "VerifiedBundle",
    "assemble_bundle",
    "build_bundle",
    "load_bundle",
    "parse_bundle",
    "parse_slot_key",
    "pool_hex_nodes",
    "verify_bundle",
]
