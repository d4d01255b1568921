"""Feature spec v1 and v2 (``coproc-features``, docs/formats.md §3, §3b): load, validate and
normalize a spec into a typed :class:`Spec` (defaults filled in), its canonical bytes
and hash, the reads it needs, and the Q16 feature vector computed from *verified*
values: a :class:`~coprocessor.chain.bundle.VerifiedBundle` (:func:`compute_bundle`)
or the dict that ``coproc verify-bundle`` prints (:func:`compute`).

The parser (:func:`normalize`, :func:`load`) is the only way in: a :class:`Spec` is
valid by construction, and ``to_json`` gives back its canonical (normalized) JSON.
Version 2 adds one optional key to a read feature, ``series`` (samples of the read over
a window of blocks, aggregated: :mod:`coprocessor.scoring.series`); a version 1 spec
has the same canonical bytes and hash as before v2 existed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.hexutil import to_bytes, to_quantity
from coprocessor.chain.keccak import EMPTY_CODE_HASH, keccak256
from coprocessor.chain.slots import (
    WORD,
    array_element_slot,
    extract_packed,
    field_slot,
    mapping_slot,
    slot_bytes,
)
from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json
from coprocessor.scoring.models.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    SCALE_BITS,
    is_int32,
    rshift_round,
    sat32,
)
from coprocessor.scoring.protocol_spec import ProtocolRead, is_protocol_read, parse_protocol_read
from coprocessor.scoring.protocol_values import ProtocolValues
from coprocessor.scoring.series import Series, parse_series
from coprocessor.scoring.spec_checks import fail as _fail
from coprocessor.scoring.spec_checks import integer as _int
from coprocessor.scoring.spec_checks import keys as _keys

FORMAT: Final = "coproc-features"
VERSION: Final = 1
VERSIONS: Final = (1, 2)  # 2: read features may carry a ``series``
SUBJECT: Final = "$subject"
READ_KINDS: Final = ("balance", "nonce", "storage", "code_present")
COMBINE_OPS: Final = ("sub", "add", "mul", "ratio")
MAX_DECIMALS: Final = 77  # 10**77 < 2**256 <= 10**78
MAX_FEATURES: Final = 256
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


# --- the typed spec ------------------------------------------------------------------
# Each class's ``to_json`` is its part of the canonical form, keys in the order the
# spec files are written in (canonical bytes sort them anyway).


@dataclass(frozen=True)
class MappingStep:
    """``{"mapping": key}``: ``$subject``, an integer, or bytes20/bytes32 lowercase hex."""

    key: str | int

    def to_json(self) -> dict[str, Any]:
        return {"mapping": self.key}


@dataclass(frozen=True)
class IndexStep:
    """``{"index": i, "elem_slots": n}``: element ``i`` of an array of ``n``-slot items."""

    index: int
    elem_slots: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "elem_slots": self.elem_slots}


@dataclass(frozen=True)
class FieldStep:
    """``{"field": k}``: the ``k``-th slot of a struct."""

    field: int

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field}


PathStep = MappingStep | IndexStep | FieldStep


@dataclass(frozen=True)
class Slot:
    """A storage slot: a base slot and a path of mapping/index/field steps."""

    base: int
    path: tuple[PathStep, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "path": [step.to_json() for step in self.path]}

    def resolve(self, subject: str) -> int:
        """The slot number for ``subject`` (0x-hex address; stands for ``$subject``)."""
        p = self.base
        for step in self.path:
            if isinstance(step, MappingStep):
                key = subject if step.key == SUBJECT else step.key
                p = mapping_slot(p, bytes.fromhex(key[2:]) if isinstance(key, str) else key)
            elif isinstance(step, IndexStep):
                p = array_element_slot(p, step.index, step.elem_slots)
            else:
                p = field_slot(p, step.field)
        return p


@dataclass(frozen=True)
class Bits:
    """The packed field of a storage word: ``size`` bytes from byte ``offset`` (low end)."""

    offset: int = 0
    size: int = 32

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "size": self.size}


@dataclass(frozen=True)
class Bounds:
    """The Q16 range a feature is clamped to (``min``/``max`` in the spec)."""

    lo: int = INT32_MIN
    hi: int = INT32_MAX

    def clamp(self, value: int) -> int:
        return self.lo if value < self.lo else self.hi if value > self.hi else value


@dataclass(frozen=True)
class Source:
    """A feature's ``read``: one account value (or one storage word) at one block."""

    kind: str  # one of READ_KINDS
    address: str  # lowercase 0x-hex or SUBJECT
    block_offset: int = 0
    slot: Slot | None = None  # storage reads only
    bits: Bits | None = None  # storage reads only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "address": self.address,
            "block_offset": self.block_offset,
        }
        if self.slot is not None:
            out["slot"] = self.slot.to_json()
        if self.bits is not None:
            out["bits"] = self.bits.to_json()
        return out


@dataclass(frozen=True)
class ReadFeature:
    """A feature read from the chain: the raw value in Q16 (``value / 10**decimals``),
    or (spec v2, ``series`` set) an aggregate of such values sampled over blocks. The
    raw value is one account value or storage word (:class:`Source`) or a protocol's
    view of the subject (:data:`~coprocessor.scoring.protocol_spec.ProtocolRead`, §3c)."""

    name: str
    read: Source | ProtocolRead
    decimals: int = 0
    signed: bool = False
    bounds: Bounds = Bounds()
    series: Series | None = None

    def blocks(self, request_block: int) -> list[int]:
        """The blocks this feature reads for request block ``request_block``, oldest
        first (one block without a series)."""
        if self.series is not None:
            return self.series.blocks(request_block, self.read.block_offset)
        number = request_block - self.read.block_offset
        if number < 0:
            raise UserInputError(
                f"feature {self.name!r}: block {number} is before genesis", rule="feature_block"
            )
        return [number]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "read": self.read.to_json(),
            "decimals": self.decimals,
            "signed": self.signed,
            "min": self.bounds.lo,
            "max": self.bounds.hi,
        }
        if self.series is not None:
            out["series"] = self.series.to_json()
        return out


@dataclass(frozen=True)
class CombineFeature:
    """A feature combined from two earlier ones by one of COMBINE_OPS."""

    name: str
    op: str
    args: tuple[str, str]
    bounds: Bounds = Bounds()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "combine": {"op": self.op, "args": list(self.args)},
            "min": self.bounds.lo,
            "max": self.bounds.hi,
        }


Feature = ReadFeature | CombineFeature


@dataclass(frozen=True)
class Spec:
    """A validated, normalized feature spec (make one with :func:`normalize`/:func:`load`)."""

    name: str
    features: tuple[Feature, ...]
    version: int = VERSION

    @property
    def names(self) -> tuple[str, ...]:
        """The feature names, in vector order."""
        return tuple(f.name for f in self.features)

    def to_json(self) -> dict[str, Any]:
        """The canonical (normalized) JSON object, every default filled in."""
        return {
            "format": FORMAT,
            "version": self.version,
            "name": self.name,
            "features": [f.to_json() for f in self.features],
        }


# --- loading and normalization -------------------------------------------------------


def _address(value: object, where: str) -> str:
    if value == SUBJECT:
        return SUBJECT
    try:
        return "0x" + to_bytes(value, where, 20).hex()
    except UserInputError:
        raise _fail(
            where, f"expected a 20-byte hex address or {SUBJECT!r}", "feature_address"
        ) from None


def _mapping_key(value: object, where: str) -> str | int:
    if value == SUBJECT:
        return SUBJECT
    if type(value) is int:
        return _int(value, where, -(2**255), WORD - 1)
    if isinstance(value, str):
        try:
            raw = to_bytes(value, where)
        except UserInputError:
            raw = b""  # not hex: the rule's message below
        if len(raw) in (20, 32):
            return "0x" + raw.hex()
    raise _fail(
        where, f"mapping key must be {SUBJECT!r}, an integer or bytes20/bytes32 hex", "feature_slot"
    )


def _step(step: object, at: str) -> PathStep:
    if isinstance(step, dict) and "mapping" in step:
        step = _keys(step, {"mapping"}, set(), at)
        return MappingStep(_mapping_key(step["mapping"], at))
    if isinstance(step, dict) and "index" in step:
        step = _keys(step, {"index"}, {"elem_slots"}, at)
        return IndexStep(
            _int(step["index"], at, 0, WORD - 1), _int(step.get("elem_slots", 1), at, 1, WORD - 1)
        )
    if isinstance(step, dict) and "field" in step:
        step = _keys(step, {"field"}, set(), at)
        return FieldStep(_int(step["field"], at, 0, WORD - 1))
    raise _fail(at, "a step is {mapping}, {index, elem_slots} or {field}", "feature_slot")


def _slot(obj: object, where: str) -> Slot:
    obj = _keys(obj, {"base"}, {"path"}, where)
    path = obj.get("path", [])
    if not isinstance(path, list) or len(path) > 16:
        raise _fail(where, "path must be a list of at most 16 steps", "feature_slot")
    steps = tuple(_step(step, f"{where} path[{i}]") for i, step in enumerate(path))
    return Slot(_int(obj["base"], f"{where} base", 0, WORD - 1), steps)


def _bounds(obj: dict[str, Any], where: str) -> Bounds:
    lo = _int(obj.get("min", INT32_MIN), f"{where} min", INT32_MIN, INT32_MAX)
    hi = _int(obj.get("max", INT32_MAX), f"{where} max", INT32_MIN, INT32_MAX)
    if lo > hi:
        raise _fail(where, f"min {lo} > max {hi}", "feature_bounds")
    return Bounds(lo, hi)


def _series(obj: dict[str, Any], where: str, version: int) -> Series | None:
    if "series" not in obj:
        return None
    if version < 2:
        raise _fail(where, "a series needs a version 2 spec", "series_version")
    return parse_series(obj["series"], f"feature spec: {where} series")


def _protocol_feature(obj: dict[str, Any], where: str, version: int) -> ReadFeature:
    read = parse_protocol_read(obj["read"], where)
    signed = obj.get("signed", False)
    if not isinstance(signed, bool):
        raise _fail(where, "signed must be true or false", "feature_signed")
    if signed:
        raise _fail(where, "a protocol read cannot be signed", "feature_storage_only")
    return ReadFeature(
        name=obj["name"],
        read=read,
        decimals=_int(obj.get("decimals", 0), f"{where} decimals", 0, MAX_DECIMALS),
        bounds=_bounds(obj, where),
        series=_series(obj, where, version),
    )


def _read_feature(obj: dict[str, Any], where: str, version: int) -> ReadFeature:
    obj = _keys(obj, {"name", "read"}, {"decimals", "signed", "min", "max", "series"}, where)
    if is_protocol_read(obj["read"]):
        return _protocol_feature(obj, where, version)
    raw = _keys(obj["read"], {"kind", "address"}, {"block_offset", "slot", "bits"}, where)
    kind = raw["kind"]
    if kind not in READ_KINDS:
        raise _fail(
            where,
            f"read.kind must be one of {', '.join(READ_KINDS)} or protocol, got {kind!r:.40}",
            "feature_kind",
        )
    address = _address(raw["address"], f"{where} read.address")
    block_offset = _int(raw.get("block_offset", 0), f"{where} block_offset", 0, 2**32)
    signed = obj.get("signed", False)
    if not isinstance(signed, bool):
        raise _fail(where, "signed must be true or false", "feature_signed")
    slot: Slot | None = None
    bits: Bits | None = None
    if kind == "storage":
        if "slot" not in raw:
            raise _fail(where, "a storage read needs a slot", "feature_storage_only")
        slot = _slot(raw["slot"], f"{where} slot")
        packed = _keys(raw.get("bits", {}), set(), {"offset", "size"}, f"{where} bits")
        offset = _int(packed.get("offset", 0), f"{where} bits.offset", 0, 31)
        size = _int(packed.get("size", 32 - offset), f"{where} bits.size", 1, 32 - offset)
        bits = Bits(offset, size)
    else:
        if "slot" in raw or "bits" in raw:
            raise _fail(where, f"a {kind} read takes no slot or bits", "feature_storage_only")
        if signed:
            raise _fail(where, f"a {kind} read cannot be signed", "feature_storage_only")
    bounds = _bounds(obj, where)
    return ReadFeature(
        name=obj["name"],
        read=Source(kind, address, block_offset, slot, bits),
        decimals=_int(obj.get("decimals", 0), f"{where} decimals", 0, MAX_DECIMALS),
        signed=signed,
        bounds=bounds,
        series=_series(obj, where, version),
    )


def _combine_feature(obj: dict[str, Any], where: str, earlier: set[str]) -> CombineFeature:
    obj = _keys(obj, {"name", "combine"}, {"min", "max"}, where)
    comb = _keys(obj["combine"], {"op", "args"}, set(), f"{where} combine")
    if comb["op"] not in COMBINE_OPS:
        raise _fail(where, f"combine.op must be one of {', '.join(COMBINE_OPS)}", "feature_kind")
    args = comb["args"]
    if not isinstance(args, list) or len(args) != 2:
        raise _fail(where, "combine.args must name two features", "feature_combine_args")
    for arg in args:
        if not isinstance(arg, str) or arg not in earlier:
            raise _fail(
                where, f"combine arg {arg!r:.40} is not an earlier feature", "feature_combine_args"
            )
    return CombineFeature(obj["name"], comb["op"], (args[0], args[1]), _bounds(obj, where))


def _json_numbers(obj: object) -> None:
    """Every JSON number of a spec is an integer of at most 256 bits, wherever it stands
    (the Rust core's JSON reader refuses anything else before reading the spec)."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, float):
            raise _fail("JSON", f"{value!r:.40} is not an integer", "spec_integer")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**256:
            raise _fail("JSON", "integer wider than 256 bits", "spec_integer")


def normalize(obj: object) -> Spec:
    """Validate a spec's JSON object and return it typed, every default filled in (the
    canonical form); a :class:`Spec` is returned as it is."""
    if isinstance(obj, Spec):
        return obj
    _json_numbers(obj)
    obj = _keys(obj, {"format", "version", "name", "features"}, set(), "top")
    if obj["format"] != FORMAT:
        raise _fail("format", f"must be {FORMAT!r}", "spec_format")
    if obj["version"] not in VERSIONS or type(obj["version"]) is not int:
        raise _fail("version", f"unsupported version {obj['version']!r:.20}", "spec_version")
    if not isinstance(obj["name"], str) or not obj["name"].isascii():
        raise _fail("name", "must be an ASCII string", "spec_name")
    features = obj["features"]
    if not isinstance(features, list) or not 1 <= len(features) <= MAX_FEATURES:
        raise _fail("features", f"must be a list of 1..{MAX_FEATURES} features", "spec_features")
    out: list[Feature] = []
    names: set[str] = set()
    for i, feat in enumerate(features):
        where = f"feature {i}"
        if not isinstance(feat, dict):
            raise _fail(where, "expected an object", "spec_features")
        name = feat.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _fail(where, f"name must match {_NAME.pattern}, got {name!r:.40}", "feature_name")
        where = f"feature {name!r}"
        if name in names:
            raise _fail(where, "duplicate name", "feature_unique")
        if "read" in feat:
            out.append(_read_feature(feat, where, obj["version"]))
        elif "combine" in feat:
            out.append(_combine_feature(feat, where, names))
        else:
            raise _fail(where, "needs `read` or `combine`", "feature_kind")
        names.add(name)
    return Spec(obj["name"], tuple(out), obj["version"])


def load(path: str | Path) -> Spec:
    """Read, validate and normalize a spec file."""
    return normalize(load_json(path, "feature spec", integers_only=True))


def canonical_bytes(spec: Spec) -> bytes:
    """Canonical JSON of the normalized spec: sorted keys, no whitespace, ASCII."""
    return json.dumps(
        spec.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def spec_hash(spec: Spec) -> bytes:
    """The feature-spec hash: keccak256 of the canonical bytes."""
    return keccak256(canonical_bytes(spec))


# --- reads ---------------------------------------------------------------------------


def _resolve_address(address: str, subject: str) -> str:
    return subject if address == SUBJECT else address


def resolve_slot(slot: Slot, subject: str) -> int:
    """The slot number of a slot description for ``subject`` (:meth:`Slot.resolve`)."""
    return slot.resolve(subject)


@dataclass(frozen=True)
class Read:
    """One value the spec needs: an account (and maybe one slot) at one block."""

    block: int
    address: str
    slot: int | None  # None: the account itself (balance, nonce, code)


def _subject(subject: str) -> str:
    return "0x" + to_bytes(subject, "subject", 20).hex()


def required_reads(spec: Spec, subject: str, block: int) -> list[Read]:
    """Every account/slot read the spec makes for ``subject`` at request block ``block``
    (what the indexer must put in a bundle), in spec order, without duplicates. Protocol
    reads are not listed: their slots follow from proven values, so the indexer finds
    them by running the reads (:mod:`coprocessor.scoring.protocol_index`)."""
    subject = _subject(subject)
    out: list[Read] = []
    for feat in spec.features:
        if not isinstance(feat, ReadFeature) or not isinstance(feat.read, Source):
            continue
        read = feat.read
        address = _resolve_address(read.address, subject)
        slot = read.slot.resolve(subject) if read.slot is not None else None
        for number in feat.blocks(block):
            item = Read(number, address, slot)
            if item not in out:
                out.append(item)
    return out


# --- computing the vector ------------------------------------------------------------


def to_q16(value: int, decimals: int) -> int:
    """``trunc(value * 2**16 / 10**decimals)``, truncated towards zero, exactly."""
    if decimals < 0:
        raise ValueError("decimals must be >= 0")
    q: int = (abs(value) << SCALE_BITS) // 10**decimals
    return -q if value < 0 else q


def combine(op: str, a: int, b: int, hi: int) -> int:
    """A combine op on two Q16 values, saturated (the caller clamps to min/max)."""
    if op == "sub":
        return sat32(a - b)
    if op == "add":
        return sat32(a + b)
    if op == "mul":
        return sat32(rshift_round(a * b, SCALE_BITS))
    if b == 0:
        return hi
    n = a << SCALE_BITS
    q = abs(n) // abs(b)
    return sat32(q if (n < 0) == (b < 0) else -q)


def _absent(name: str, what: str, address: str, block: int) -> UserInputError:
    return UserInputError(
        f"feature {name!r}: the bundle has no {what}{address} at block {block}",
        rule="feature_read_present",
    )


class _Values(Protocol):
    """Verified values by (block, address): what a read feature looks up."""

    def account_value(self, kind: str, block: int, address: str, name: str) -> int:
        """``balance``, ``nonce`` or ``code_present`` (0 for an absent account)."""
        ...

    def storage(self, block: int, address: str, slot: int, name: str) -> int:
        """The storage word (0 in an absent account)."""
        ...

    def protocol(self, read: ProtocolRead, block: int, subject: str, name: str) -> int:
        """A protocol read's field for ``subject`` at ``block`` (§3c)."""
        ...


class _BundleValues:
    """Index of a verified bundle's reads, values as the verifier left them."""

    def __init__(self, verified: VerifiedBundle) -> None:
        self.reads = {(a.block, a.address): a for a in verified.bundle.accounts}
        self.slots: dict[tuple[int, bytes], dict[bytes, int]] = {}
        self.protocols = ProtocolValues(verified, self.reads, self.slots)

    def protocol(self, read: ProtocolRead, block: int, subject: str, name: str) -> int:
        return self.protocols.value(read, block, subject, name)

    def _read(self, block: int, address: str, name: str) -> tuple[int, bytes]:
        key = (block, bytes.fromhex(address[2:]))
        if key not in self.reads:
            raise _absent(name, "read of ", address, block)
        return key

    def account_value(self, kind: str, block: int, address: str, name: str) -> int:
        account = self.reads[self._read(block, address, name)].account
        if account is None:
            return 0
        if kind == "balance":
            return account.balance
        if kind == "nonce":
            return account.nonce
        return int(account.code_hash != EMPTY_CODE_HASH)

    def storage(self, block: int, address: str, slot: int, name: str) -> int:
        key = self._read(block, address, name)
        if self.reads[key].account is None:
            return 0  # an absent account has empty storage
        if key not in self.slots:
            self.slots[key] = {s.slot: s.value for s in self.reads[key].storage}
        word = self.slots[key].get(slot_bytes(slot))
        if word is None:
            raise _absent(name, f"slot 0x{slot_bytes(slot).hex()} of ", address, block)
        return word


class _JsonValues:
    """Index of a verified-values dict (``coproc verify-bundle``'s output)."""

    def __init__(self, verified: dict[str, Any]) -> None:
        if not isinstance(verified, dict) or not isinstance(verified.get("accounts"), list):
            raise UserInputError("verified values: expected an object with an accounts list")
        self.anchor = verified.get("anchor", {}).get("number")
        self.reads: dict[tuple[int, str], dict[str, Any]] = {}
        for i, entry in enumerate(verified["accounts"]):
            if not isinstance(entry, dict) or type(entry.get("block")) is not int:
                raise UserInputError(f"verified values: accounts[{i}] needs an integer block")
            address = "0x" + to_bytes(entry.get("address"), "verified address", 20).hex()
            self.reads[(entry["block"], address)] = entry

    def _account(self, block: int, address: str, name: str) -> dict[str, Any] | None:
        entry = self.reads.get((block, address))
        if entry is None:
            raise _absent(name, "read of ", address, block)
        account: dict[str, Any] | None = entry.get("account")
        return account

    def account_value(self, kind: str, block: int, address: str, name: str) -> int:
        account = self._account(block, address, name)
        if account is None:
            return 0
        if kind == "balance":
            return to_quantity(account["balance"], "balance")
        if kind == "nonce":
            return to_quantity(account["nonce"], "nonce")
        code_hash = to_bytes(account["code_hash"], "code_hash", 32)
        return int(code_hash != EMPTY_CODE_HASH)

    def storage(self, block: int, address: str, slot: int, name: str) -> int:
        if self._account(block, address, name) is None:
            return 0  # an absent account has empty storage
        key = "0x" + slot_bytes(slot).hex()
        storage = self.reads[(block, address)].get("storage", {})
        if key not in storage:
            raise _absent(name, f"slot {key} of ", address, block)
        return to_quantity(storage[key], f"slot {key}")

    def protocol(self, read: ProtocolRead, block: int, subject: str, name: str) -> int:
        raise UserInputError(
            f"feature {name!r}: a protocol read is computed from a verified bundle "
            "(its headers' timestamps), not from verify-bundle's values"
        )


def _raw_value(feat: ReadFeature, data: _Values, subject: str, number: int) -> int:
    """The raw value ``feat`` reads at block ``number`` (the read's own block)."""
    read = feat.read
    if not isinstance(read, Source):
        return data.protocol(read, number, subject, feat.name)
    address = _resolve_address(read.address, subject)
    if read.slot is not None and read.bits is not None:
        word = data.storage(number, address, read.slot.resolve(subject), feat.name)
        return extract_packed(word, read.bits.offset, read.bits.size, feat.signed)
    return data.account_value(read.kind, number, address, feat.name)


@dataclass(frozen=True)
class FeatureVector:
    names: tuple[str, ...]
    values: tuple[int, ...]  # Q16 int32
    block: int
    subject: str

    def to_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "subject": self.subject,
            "features": [
                {"name": n, "q16": v, "value": v / (1 << SCALE_BITS)}
                for n, v in zip(self.names, self.values, strict=True)
            ],
            "vector": list(self.values),
        }


def _vector(spec: Spec, data: _Values, subject: str, block: int) -> FeatureVector:
    values: dict[str, int] = {}
    for feat in spec.features:
        if isinstance(feat, ReadFeature):
            samples = [
                sat32(to_q16(_raw_value(feat, data, subject, number), feat.decimals))
                for number in feat.blocks(block)
            ]
            value = samples[0] if feat.series is None else feat.series.aggregate(samples)
        else:
            a, b = (values[arg] for arg in feat.args)
            value = combine(feat.op, a, b, feat.bounds.hi)
        values[feat.name] = feat.bounds.clamp(value)
        assert is_int32(values[feat.name])
    names = spec.names
    return FeatureVector(names, tuple(values[n] for n in names), block, subject)


def compute_bundle(
    spec: Spec, verified: VerifiedBundle, subject: str, block: int | None = None
) -> FeatureVector:
    """The Q16 feature vector of ``subject`` at request block ``block`` (default: the
    anchor) from a verified bundle's values; a value the bundle does not cover is an
    error. (The caller checks that ``block`` lies within the bundle's headers.)"""
    number = verified.anchor.number if block is None else block
    return _vector(spec, _BundleValues(verified), _subject(subject), number)


def compute_bundle_many(
    spec: Spec, verified: VerifiedBundle, subjects: list[str], block: int
) -> list[FeatureVector]:
    """:func:`compute_bundle` for many subjects over one index of the bundle (a batch)."""
    data = _BundleValues(verified)
    return [_vector(spec, data, _subject(subject), block) for subject in subjects]


def compute(
    spec: Spec, verified: dict[str, Any], subject: str, block: int | None = None
) -> FeatureVector:
    """:func:`compute_bundle` from the verified-values dict ``coproc verify-bundle``
    prints."""
    subject = _subject(subject)
    data = _JsonValues(verified)
    if block is None:
        if type(data.anchor) is not int:
            raise UserInputError("verified values: no anchor number; give the block")
        block = data.anchor
    return _vector(spec, data, subject, block)
