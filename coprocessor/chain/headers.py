"""Block headers: RLP encoding from JSON-RPC form, hashing, strict decoding, ancestry.

Execution-specs style: frozen dataclasses and small pure functions, each raising a
named error. The block hash is always ``keccak256`` of the raw RLP bytes, so a header
carrying fields added by a future fork still hashes correctly once it is in RLP form.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from rlp.exceptions import DecodingError

from coprocessor.chain.hexutil import hexstr, to_bytes
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.rlpdepth import decode_bounded
from coprocessor.errors import UserInputError, VerificationError

# (JSON-RPC name, kind) in RLP order. Kinds: fixed-size bytes ("b32", "b20", "b256",
# "b8"), unsigned integer ("int"), variable bytes ("data").
_BASE_FIELDS: tuple[tuple[str, str], ...] = (
    ("parentHash", "b32"),
    ("sha3Uncles", "b32"),
    ("miner", "b20"),
    ("stateRoot", "b32"),
    ("transactionsRoot", "b32"),
    ("receiptsRoot", "b32"),
    ("logsBloom", "b256"),
    ("difficulty", "int"),
    ("number", "int"),
    ("gasLimit", "int"),
    ("gasUsed", "int"),
    ("timestamp", "int"),
    ("extraData", "data"),
    ("mixHash", "b32"),
    ("nonce", "b8"),
)
#: Fields each fork appended, in activation order (EIP-1559, EIP-4895, EIP-4844 +
#: EIP-4788, EIP-7685). Osaka and its BPO forks add none.
_FORK_FIELDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("london", (("baseFeePerGas", "int"),)),
    ("shanghai", (("withdrawalsRoot", "b32"),)),
    (
        "cancun",
        (("blobGasUsed", "int"), ("excessBlobGas", "int"), ("parentBeaconBlockRoot", "b32")),
    ),
    ("prague", (("requestsHash", "b32"),)),
)
_SIZES = {"b32": 32, "b20": 20, "b256": 256, "b8": 8}

# positions in the RLP list
PARENT_HASH, STATE_ROOT, NUMBER, TIMESTAMP = 0, 3, 8, 11


@dataclass(frozen=True)
class Header:
    """A decoded header: the raw RLP, its hash and the fields verification needs."""

    raw: bytes
    hash: bytes
    parent_hash: bytes
    state_root: bytes
    number: int
    timestamp: int
    field_count: int


def header_layout(obj: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The fork group and RLP field list of a JSON header, from the fields it carries.

    Fork groups are cumulative: a header with ``requestsHash`` must carry every
    earlier fork's field too, otherwise it is rejected as malformed.
    """
    fields = list(_BASE_FIELDS)
    group = "frontier"
    for fork, extra in _FORK_FIELDS:
        present = [name in obj for name, _ in extra]
        if all(present):
            fields.extend(extra)
            group = fork
        elif any(present):
            raise UserInputError(f"header: incomplete {fork} fields")
        else:
            break
    for fork, extra in _FORK_FIELDS:
        if fork == group:
            continue
        later = [name for name, _ in extra if name in obj and (name, "int") not in fields]
        if later and all((name, kind) not in fields for name, kind in extra):
            raise UserInputError(f"header: has {later[0]} but lacks earlier fork fields")
    return group, tuple(fields)


def _json_value(obj: Mapping[str, Any], name: str, kind: str) -> bytes | int:
    where = f"header.{name}"
    if name not in obj:
        raise UserInputError(f"{where}: missing")
    value = obj[name]
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if not isinstance(value, str):  # floats, bools, negatives: not a quantity
            raise UserInputError(f"{where}: expected a hex quantity, got {value!r:.40}")
        raw = to_bytes(value if len(value) % 2 == 0 else "0x0" + value[2:], where)
        return int.from_bytes(raw, "big")
    return to_bytes(value, where, _SIZES.get(kind))


def encode_header_json(obj: Mapping[str, Any], extra_fields: Sequence[str] = ()) -> bytes:
    """RLP of a header given in ``eth_getBlockByNumber`` JSON form.

    Unknown JSON keys (``size``, ``transactions``...) are ignored. ``extra_fields``
    names header fields that a fork newer than Prague appended (encoded as data, in
    the order given), so a new fork never needs a code change to be hashed.
    """
    _, fields = header_layout(obj)
    items: list[bytes | int] = [_json_value(obj, name, kind) for name, kind in fields]
    items.extend(_json_value(obj, name, "data") for name in extra_fields)
    return bytes(rlp.encode(items))


def pyevm_encode_header_json(obj: Mapping[str, Any]) -> bytes:
    """The same RLP built through py-evm's header class for the header's fork group
    (Frontier..Prague), used to cross-check :func:`encode_header_json`."""
    from eth.rlp.headers import BlockHeader
    from eth.vm.forks.cancun.blocks import CancunBlockHeader
    from eth.vm.forks.london.blocks import LondonBlockHeader
    from eth.vm.forks.prague.blocks import PragueBlockHeader
    from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader

    classes: dict[str, Any] = {
        "frontier": BlockHeader,
        "london": LondonBlockHeader,
        "shanghai": ShanghaiBlockHeader,
        "cancun": CancunBlockHeader,
        "prague": PragueBlockHeader,
    }
    group, fields = header_layout(obj)
    values = [_json_value(obj, name, kind) for name, kind in fields]
    cls = classes[group]
    names = cls._meta.field_names
    if len(names) != len(values):
        raise UserInputError(f"header: py-evm {cls.__name__} has {len(names)} fields")
    kwargs: dict[str, Any] = dict(zip(names, values, strict=True))
    kwargs["bloom"] = int.from_bytes(kwargs["bloom"], "big")  # py-evm keeps the bloom as int
    header = cls(**kwargs)
    return bytes(rlp.encode(header))


def _int_field(raw: bytes, what: str) -> int:
    if raw[:1] == b"\x00":
        raise VerificationError(
            f"header {what}: integer with leading zero byte", rule="header_field"
        )
    return int.from_bytes(raw, "big")


def decode_header(raw: bytes, where: str = "header") -> Header:
    """Strictly decode a header's RLP: a flat list of at least the 15 Frontier fields,
    fixed-size fields of the right size, canonical integers. Fields after the known
    ones (future forks) are accepted as opaque byte strings."""
    try:
        items = decode_bounded(raw, where)
    except DecodingError as exc:
        raise VerificationError(f"{where}: invalid RLP ({exc})", rule="rlp_canonical") from None
    if not isinstance(items, list) or len(items) < len(_BASE_FIELDS):
        raise VerificationError(
            f"{where}: not a header (need >= 15 RLP items)", rule="header_shape"
        )
    if not all(isinstance(item, bytes) for item in items):
        raise VerificationError(f"{where}: nested list inside a header", rule="header_shape")
    known = list(_BASE_FIELDS) + [f for _, extra in _FORK_FIELDS for f in extra]
    for index, item in enumerate(items[: len(known)]):
        name, kind = known[index]
        size = _SIZES.get(kind)
        if size is not None and len(item) != size:
            raise VerificationError(
                f"{where}: field {name} has {len(item)} bytes, not {size}", rule="header_field"
            )
        if kind == "int":
            _int_field(item, name)
    return Header(
        raw=raw,
        hash=keccak256(raw),
        parent_hash=items[PARENT_HASH],
        state_root=items[STATE_ROOT],
        number=_int_field(items[NUMBER], "number"),
        timestamp=_int_field(items[TIMESTAMP], "timestamp"),
        field_count=len(items),
    )


def header_from_json(obj: Mapping[str, Any], extra_fields: Sequence[str] = ()) -> Header:
    """Encode a JSON header and, if it states its ``hash``, require the recomputed
    hash to match (tampered or mis-encoded headers never get through)."""
    header = decode_header(encode_header_json(obj, extra_fields))
    if "hash" in obj:
        stated = to_bytes(obj["hash"], "header.hash", 32)
        if stated != header.hash:
            known = {name for name, _ in _BASE_FIELDS} | {
                n for _, extra in _FORK_FIELDS for n, _ in extra
            }
            unknown = sorted(
                k
                for k in obj
                if k not in known
                and not k.startswith("_")
                and k not in _NON_HEADER_KEYS
                and k not in extra_fields
            )
            hint = f"; unknown fields present: {', '.join(unknown)}" if unknown else ""
            raise VerificationError(
                f"header {header.number}: recomputed hash {hexstr(header.hash)} "
                f"!= stated {hexstr(stated)}{hint}",
                rule="header_stated_hash",
            )
    return header


#: keys of eth_getBlockByNumber output that are not header fields
_NON_HEADER_KEYS = frozenset(
    {
        "hash",
        "size",
        "totalDifficulty",
        "uncles",
        "transactions",
        "withdrawals",
        "author",
        "sealFields",
    }
)


def verify_chain(headers: Sequence[Header]) -> None:
    """Require ``headers`` to be consecutive blocks, each the parent of the next
    (parent-hash ancestry from the first header up to the last, the anchor)."""
    if not headers:
        raise VerificationError("header chain is empty", rule="bundle_headers")
    for prev, cur in itertools.pairwise(headers):
        if cur.number != prev.number + 1:
            raise VerificationError(
                f"header chain: block {cur.number} follows {prev.number} (not consecutive)",
                rule="chain_consecutive",
            )
        if cur.parent_hash != prev.hash:
            raise VerificationError(
                f"header chain: parentHash of block {cur.number} is "
                f"{hexstr(cur.parent_hash)}, not the hash of block {prev.number} "
                f"({hexstr(prev.hash)})",
                rule="chain_parent_hash",
            )
