"""Strict hex parsing. Every parser names *where* a bad value was found, so the
error reaches the user as one clear line."""

from __future__ import annotations

import re

from coprocessor.errors import UserInputError

_HEX = re.compile(r"[0-9a-fA-F]*")


def _body(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise UserInputError(f"{where}: expected a 0x-prefixed hex string, got {value!r:.80}")
    body = value[2:]
    if not _HEX.fullmatch(body):
        raise UserInputError(f"{where}: not hex: {value!r:.80}")
    return body


def to_bytes(value: object, where: str, length: int | None = None) -> bytes:
    """Decode ``0x``-hex data (even number of digits); check the length if given."""
    body = _body(value, where)
    if len(body) % 2:
        raise UserInputError(f"{where}: odd number of hex digits")
    raw = bytes.fromhex(body)
    if length is not None and len(raw) != length:
        raise UserInputError(f"{where}: expected {length} bytes, got {len(raw)}")
    return raw


def to_quantity(value: object, where: str) -> int:
    """Decode a JSON-RPC quantity (``0x0``, ``0x1a``); leading zeros are rejected
    so that every quantity has exactly one spelling."""
    body = _body(value, where)
    if not body:
        raise UserInputError(f"{where}: empty quantity")
    if len(body) > 1 and body[0] == "0":
        raise UserInputError(f"{where}: quantity has leading zeros: {value!r:.80}")
    return int(body, 16)


def quantity(value: int) -> str:
    """Encode an integer as a JSON-RPC quantity."""
    if value < 0:
        raise ValueError("quantities are non-negative")
    return hex(value)


def hexstr(raw: bytes) -> str:
    """Encode bytes as lowercase ``0x``-hex."""
    return "0x" + raw.hex()


def parse_address(value: str, where: str = "address") -> bytes:
    """A 20-byte address from hex (checksum case accepted, not required)."""
    return to_bytes(value, where, 20)


def parse_int(value: str, where: str) -> int:
    """An integer given as decimal or 0x-hex (CLI arguments such as slots)."""
    text = value.strip()
    try:
        if text.lower().startswith("0x"):
            if len(text) == 2:
                raise ValueError
            return int(text, 16)
        return int(text, 10)
    except ValueError:
        raise UserInputError(f"{where}: not a decimal or 0x-hex integer: {value!r:.80}") from None
