"""Journal v1 (docs/formats.md §4) by field name: ``abi.encode`` of the fields listed in
``spec/journal_v1.json``, read from that file (the one definition). Decoded journals are
dicts keyed by the spec's field names (``chainId``, ``anchorHash``, ...), with bytes and
addresses as lowercase ``0x``-hex, which is also how ``coproc-host`` prints them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from coprocessor.errors import UserInputError, VerificationError
from coprocessor.paths import REPO_ROOT

SPEC_PATH = REPO_ROOT / "spec" / "journal_v1.json"
#: ten static 32-byte words
LENGTH = 320
VERSION = 1


@cache
def fields() -> tuple[tuple[str, str], ...]:
    """(name, ABI type) of every field, in order, from spec/journal_v1.json."""
    spec = json.loads(SPEC_PATH.read_text())
    if spec.get("version") != VERSION:
        raise VerificationError(f"{SPEC_PATH}: expected journal version {VERSION}")
    return tuple((str(f["name"]), str(f["type"])) for f in spec["fields"])


def _to_abi(name: str, typ: str, value: Any) -> Any:
    if typ.startswith("bytes") or typ == "address":
        if isinstance(value, str):
            if not value.startswith("0x"):
                raise UserInputError(f"journal field {name}: expected 0x-hex, got {value!r:.40}")
            raw = bytes.fromhex(value[2:])
        elif isinstance(value, bytes):
            raw = value
        else:
            raise UserInputError(f"journal field {name}: expected bytes or hex")
        want = 20 if typ == "address" else int(typ[5:])
        if len(raw) != want:
            raise UserInputError(f"journal field {name}: expected {want} bytes, got {len(raw)}")
        return "0x" + raw.hex() if typ == "address" else raw
    if type(value) is not int:
        raise UserInputError(f"journal field {name}: expected an integer")
    return value


def encode(values: Mapping[str, Any]) -> bytes:
    """The 320 journal bytes from a dict of every field (no more, no fewer)."""
    names = [n for n, _ in fields()]
    if set(values) != set(names):
        missing = sorted(set(names) - set(values))
        extra = sorted(set(values) - set(names))
        raise UserInputError(f"journal fields: missing {missing}, unknown {extra}")
    types = [t for _, t in fields()]
    args = [_to_abi(n, t, values[n]) for n, t in fields()]
    try:
        return abi_encode(types, args)
    except Exception as exc:  # eth_abi raises its own types for out-of-range values
        raise UserInputError(f"journal does not encode: {exc}") from None


def decode(raw: bytes) -> dict[str, Any]:
    """Decode exactly 320 canonical bytes; anything else is a VerificationError."""
    if len(raw) != LENGTH:
        raise VerificationError(f"journal is {len(raw)} bytes, expected {LENGTH}")
    try:
        values = abi_decode([t for _, t in fields()], raw, strict=True)
    except Exception as exc:  # eth_abi raises several unrelated types on bad padding
        raise VerificationError(f"journal does not decode: {exc}") from None
    out: dict[str, Any] = {}
    for (name, _), v in zip(fields(), values, strict=True):
        out[name] = (
            "0x" + v.hex() if isinstance(v, bytes) else v.lower() if isinstance(v, str) else v
        )
    if out["version"] != VERSION:
        raise VerificationError(f"journal version {out['version']}, expected {VERSION}")
    if encode(out) != raw:
        raise VerificationError("journal is not in canonical ABI form")
    return out


def decode_hex(text: str) -> dict[str, Any]:
    """Decode a ``0x``-hex journal."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise VerificationError("journal_hex: expected 0x-hex")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise VerificationError("journal_hex: not hex") from None
    return decode(raw)
