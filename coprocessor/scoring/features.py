"""Feature spec v1 (``coproc-features``, docs/formats.md §3): load, validate and
normalize a spec (defaults filled in), its canonical bytes and hash, the reads it
needs, and the Q16 feature vector computed from *verified* values (the dict that
``coproc verify-bundle`` prints)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

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

FORMAT: Final = "coproc-features"
VERSION: Final = 1
SUBJECT: Final = "$subject"
READ_KINDS: Final = ("balance", "nonce", "storage", "code_present")
COMBINE_OPS: Final = ("sub", "add", "mul", "ratio")
MAX_DECIMALS: Final = 77  # 10**77 < 2**256 <= 10**78
MAX_FEATURES: Final = 256
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

Spec = dict[str, Any]


# --- loading and normalization -------------------------------------------------------


def _fail(where: str, message: str, rule: str) -> UserInputError:
    return UserInputError(f"feature spec: {where}: {message}", rule=rule)


def _keys(obj: object, required: set[str], optional: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(where, "expected an object", "spec_keys")
    missing = sorted(required - set(obj))
    if missing:
        raise _fail(where, f"missing key(s) {', '.join(missing)}", "spec_keys")
    extra = sorted(set(obj) - required - optional)
    if extra:
        raise _fail(where, f"unknown key(s) {', '.join(extra)}", "spec_keys")
    return obj


def _int(value: object, where: str, lo: int, hi: int) -> int:
    if type(value) is not int:
        raise _fail(where, f"expected an integer, got {value!r:.40}", "spec_integer")
    if not lo <= value <= hi:
        raise _fail(where, f"{value} is outside {lo}..{hi}", "spec_integer")
    return value


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


def _slot(obj: object, where: str) -> dict[str, Any]:
    obj = _keys(obj, {"base"}, {"path"}, where)
    path = obj.get("path", [])
    if not isinstance(path, list) or len(path) > 16:
        raise _fail(where, "path must be a list of at most 16 steps", "feature_slot")
    steps: list[dict[str, Any]] = []
    for i, step in enumerate(path):
        at = f"{where} path[{i}]"
        if isinstance(step, dict) and "mapping" in step:
            step = _keys(step, {"mapping"}, set(), at)
            steps.append({"mapping": _mapping_key(step["mapping"], at)})
        elif isinstance(step, dict) and "index" in step:
            step = _keys(step, {"index"}, {"elem_slots"}, at)
            steps.append(
                {
                    "index": _int(step["index"], at, 0, WORD - 1),
                    "elem_slots": _int(step.get("elem_slots", 1), at, 1, WORD - 1),
                }
            )
        elif isinstance(step, dict) and "field" in step:
            step = _keys(step, {"field"}, set(), at)
            steps.append({"field": _int(step["field"], at, 0, WORD - 1)})
        else:
            raise _fail(at, "a step is {mapping}, {index, elem_slots} or {field}", "feature_slot")
    return {"base": _int(obj["base"], f"{where} base", 0, WORD - 1), "path": steps}


def _bounds(obj: dict[str, Any], where: str) -> tuple[int, int]:
    lo = _int(obj.get("min", INT32_MIN), f"{where} min", INT32_MIN, INT32_MAX)
    hi = _int(obj.get("max", INT32_MAX), f"{where} max", INT32_MIN, INT32_MAX)
    if lo > hi:
        raise _fail(where, f"min {lo} > max {hi}", "feature_bounds")
    return lo, hi


def _read_feature(obj: dict[str, Any], where: str) -> dict[str, Any]:
    obj = _keys(obj, {"name", "read"}, {"decimals", "signed", "min", "max"}, where)
    raw = _keys(obj["read"], {"kind", "address"}, {"block_offset", "slot", "bits"}, where)
    kind = raw["kind"]
    if kind not in READ_KINDS:
        raise _fail(
            where,
            f"read.kind must be one of {', '.join(READ_KINDS)}, got {kind!r:.40}",
            "feature_kind",
        )
    read: dict[str, Any] = {
        "kind": kind,
        "address": _address(raw["address"], f"{where} read.address"),
        "block_offset": _int(raw.get("block_offset", 0), f"{where} block_offset", 0, 2**32),
    }
    signed = obj.get("signed", False)
    if not isinstance(signed, bool):
        raise _fail(where, "signed must be true or false", "feature_signed")
    if kind == "storage":
        if "slot" not in raw:
            raise _fail(where, "a storage read needs a slot", "feature_storage_only")
        read["slot"] = _slot(raw["slot"], f"{where} slot")
        bits = _keys(raw.get("bits", {}), set(), {"offset", "size"}, f"{where} bits")
        offset = _int(bits.get("offset", 0), f"{where} bits.offset", 0, 31)
        size = _int(bits.get("size", 32 - offset), f"{where} bits.size", 1, 32 - offset)
        read["bits"] = {"offset": offset, "size": size}
    else:
        if "slot" in raw or "bits" in raw:
            raise _fail(where, f"a {kind} read takes no slot or bits", "feature_storage_only")
        if signed:
            raise _fail(where, f"a {kind} read cannot be signed", "feature_storage_only")
    lo, hi = _bounds(obj, where)
    return {
        "name": obj["name"],
        "read": read,
        "decimals": _int(obj.get("decimals", 0), f"{where} decimals", 0, MAX_DECIMALS),
        "signed": signed,
        "min": lo,
        "max": hi,
    }


def _combine_feature(obj: dict[str, Any], where: str, earlier: set[str]) -> dict[str, Any]:
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
    lo, hi = _bounds(obj, where)
    return {
        "name": obj["name"],
        "combine": {"op": comb["op"], "args": list(args)},
        "min": lo,
        "max": hi,
    }


def normalize(obj: object) -> Spec:
    """Validate a spec and return it with every default filled in (the canonical form)."""
    obj = _keys(obj, {"format", "version", "name", "features"}, set(), "top")
    if obj["format"] != FORMAT:
        raise _fail("format", f"must be {FORMAT!r}", "spec_format")
    if obj["version"] != VERSION or type(obj["version"]) is not int:
        raise _fail("version", f"unsupported version {obj['version']!r:.20}", "spec_version")
    if not isinstance(obj["name"], str) or not obj["name"].isascii():
        raise _fail("name", "must be an ASCII string", "spec_name")
    features = obj["features"]
    if not isinstance(features, list) or not 1 <= len(features) <= MAX_FEATURES:
        raise _fail("features", f"must be a list of 1..{MAX_FEATURES} features", "spec_features")
    out: list[dict[str, Any]] = []
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
            out.append(_read_feature(feat, where))
        elif "combine" in feat:
            out.append(_combine_feature(feat, where, names))
        else:
            raise _fail(where, "needs `read` or `combine`", "feature_kind")
        names.add(name)
    return {"format": FORMAT, "version": VERSION, "name": obj["name"], "features": out}


def load(path: str | Path) -> Spec:
    """Read, validate and normalize a spec file."""
    return normalize(load_json(path, "feature spec", integers_only=True))


def canonical_bytes(spec: Spec) -> bytes:
    """Canonical JSON of the normalized spec: sorted keys, no whitespace, ASCII."""
    return json.dumps(
        normalize(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def spec_hash(spec: Spec) -> bytes:
    """The feature-spec hash: keccak256 of the canonical bytes."""
    return keccak256(canonical_bytes(spec))


# --- reads ---------------------------------------------------------------------------


def _resolve_address(address: str, subject: str) -> str:
    return subject if address == SUBJECT else address


def resolve_slot(slot: dict[str, Any], subject: str) -> int:
    """The slot number of a normalized slot description for ``subject``."""
    p: int = slot["base"]
    for step in slot["path"]:
        if "mapping" in step:
            key = step["mapping"]
            if key == SUBJECT:
                key = subject
            p = mapping_slot(p, bytes.fromhex(key[2:]) if isinstance(key, str) else key)
        elif "index" in step:
            p = array_element_slot(p, step["index"], step["elem_slots"])
        else:
            p = field_slot(p, step["field"])
    return p


@dataclass(frozen=True)
class Read:
    """One value the spec needs: an account (and maybe one slot) at one block."""

    block: int
    address: str
    slot: int | None  # None: the account itself (balance, nonce, code)


def required_reads(spec: Spec, subject: str, block: int) -> list[Read]:
    """Every account/slot read the spec makes for ``subject`` at request block ``block``
    (what the indexer must put in a bundle), in spec order, without duplicates."""
    subject = "0x" + to_bytes(subject, "subject", 20).hex()
    out: list[Read] = []
    for feat in normalize(spec)["features"]:
        if "read" not in feat:
            continue
        read = feat["read"]
        number = block - read["block_offset"]
        if number < 0:
            raise UserInputError(
                f"feature {feat['name']!r}: block {number} is before genesis", rule="feature_block"
            )
        address = _resolve_address(read["address"], subject)
        slot = resolve_slot(read["slot"], subject) if read["kind"] == "storage" else None
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


def _clamp(value: int, lo: int, hi: int) -> int:
    return lo if value < lo else hi if value > hi else value


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


class _Verified:
    """Index of a verified-values dict: (block, address) → account read."""

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

    def account(self, block: int, address: str, name: str) -> dict[str, Any] | None:
        entry = self.reads.get((block, address))
        if entry is None:
            raise UserInputError(
                f"feature {name!r}: the bundle has no read of {address} at block {block}",
                rule="feature_read_present",
            )
        account: dict[str, Any] | None = entry.get("account")
        return account

    def storage(self, block: int, address: str, slot: int, name: str) -> int:
        account = self.account(block, address, name)
        if account is None:
            return 0  # an absent account has empty storage
        key = "0x" + slot_bytes(slot).hex()
        storage = self.reads[(block, address)].get("storage", {})
        if key not in storage:
            raise UserInputError(
                f"feature {name!r}: the bundle has no slot {key} of {address} at block {block}",
                rule="feature_read_present",
            )
        return to_quantity(storage[key], f"slot {key}")


def _raw_value(feat: dict[str, Any], data: _Verified, subject: str, block: int) -> int:
    read, name = feat["read"], feat["name"]
    number = block - read["block_offset"]
    address = _resolve_address(read["address"], subject)
    kind = read["kind"]
    if kind == "storage":
        word = data.storage(number, address, resolve_slot(read["slot"], subject), name)
        bits = read["bits"]
        return extract_packed(word, bits["offset"], bits["size"], feat["signed"])
    account = data.account(number, address, name)
    if account is None:
        return 0
    if kind == "balance":
        return to_quantity(account["balance"], "balance")
    if kind == "nonce":
        return to_quantity(account["nonce"], "nonce")
    code_hash = to_bytes(account["code_hash"], "code_hash", 32)
    return int(code_hash != EMPTY_CODE_HASH)


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


def compute(
    spec: Spec, verified: dict[str, Any], subject: str, block: int | None = None
) -> FeatureVector:
    """The Q16 feature vector of ``subject`` at request block ``block`` (default: the
    anchor) from verified values; a value the bundle does not cover is an error."""
    spec = normalize(spec)
    subject = "0x" + to_bytes(subject, "subject", 20).hex()
    data = _Verified(verified)
    if block is None:
        if type(data.anchor) is not int:
            raise UserInputError("verified values: no anchor number; give the block")
        block = data.anchor
    values: dict[str, int] = {}
    for feat in spec["features"]:
        lo, hi = feat["min"], feat["max"]
        if "read" in feat:
            raw = _raw_value(feat, data, subject, block)
            value = sat32(to_q16(raw, feat["decimals"]))
        else:
            a, b = (values[arg] for arg in feat["combine"]["args"])
            value = combine(feat["combine"]["op"], a, b, hi)
        values[feat["name"]] = _clamp(value, lo, hi)
        assert is_int32(values[feat["name"]])
    names = tuple(f["name"] for f in spec["features"])
    return FeatureVector(names, tuple(values[n] for n in names), block, subject)
