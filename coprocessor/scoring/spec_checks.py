"""The checks every part of a feature spec's parser shares (docs/formats.md §3):
one-line errors naming where (``feature spec: <where>: <message>``) with the rule
they break, exact key sets and bounded integers."""

from __future__ import annotations

from typing import Any

from coprocessor.chain.hexutil import to_bytes
from coprocessor.errors import UserInputError


def fail(where: str, message: str, rule: str) -> UserInputError:
    """The error of a spec rule, naming where it broke."""
    return UserInputError(f"feature spec: {where}: {message}", rule=rule)


def keys(obj: object, required: set[str], optional: set[str], where: str) -> dict[str, Any]:
    """``obj`` as an object with every ``required`` key and no key outside ``optional``."""
    if not isinstance(obj, dict):
        raise fail(where, "expected an object", "spec_keys")
    missing = sorted(required - set(obj))
    if missing:
        raise fail(where, f"missing key(s) {', '.join(missing)}", "spec_keys")
    extra = sorted(set(obj) - required - optional)
    if extra:
        raise fail(where, f"unknown key(s) {', '.join(extra)}", "spec_keys")
    return obj


def integer(value: object, where: str, lo: int, hi: int) -> int:
    """A JSON integer in ``lo..hi`` (booleans are not integers)."""
    if type(value) is not int:
        raise fail(where, f"expected an integer, got {value!r:.40}", "spec_integer")
    if not lo <= value <= hi:
        raise fail(where, f"{value} is outside {lo}..{hi}", "spec_integer")
    return value


def hex_bytes(value: object, where: str, size: int, rule: str) -> str:
    """``size``-byte hex, returned in its one spelling (lowercase ``0x``-hex)."""
    try:
        return "0x" + to_bytes(value, where, size).hex()
    except UserInputError:
        raise fail(where, f"expected {size}-byte hex, got {value!r:.70}", rule) from None
