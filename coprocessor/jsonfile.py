"""The one way this project reads JSON from outside: files, RPC answers, HTTP bodies.

Every file format (bundle, feature spec, model, receipt, config, keystore) is read
through :func:`load_json`, and bytes from the network through :func:`loads_json`,
so every one fails the same way: one :class:`~coprocessor.errors.UserInputError`
line naming what the text was meant to be, where it came from, and what was wrong.

Limits hold before or while parsing, so hostile input costs bounded time and memory
and never reaches a recursion deeper than a fixed bound:

- size: at most ``max_bytes`` (default :data:`MAX_BYTES`);
- nesting: at most :data:`MAX_DEPTH` arrays/objects deep (the Rust reader,
  guest/core/src/json.rs, refuses deeper input too);
- integers: at most :data:`MAX_INT_DIGITS` digits (a 256-bit word has 78);
- one spelling: a key twice in one object is refused (Python would keep the last);
- JSON has no NaN or infinity; Python's reader accepts them by default, this one
  does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coprocessor.errors import UserInputError

#: the largest file or body read, in bytes (a bundle of 1,000 slots is ~5 MB)
MAX_BYTES = 64 * 1024 * 1024
#: the deepest nesting of arrays and objects accepted (formats use at most 5)
MAX_DEPTH = 64
#: the most digits an integer may have (2**256 - 1 has 78)
MAX_INT_DIGITS = 78


def _label(path: str | os.PathLike[str], what: str) -> str:
    return f"{what} {os.fspath(path)}" if what else os.fspath(path)


def load_json(
    path: str | os.PathLike[str],
    what: str,
    *,
    integers_only: bool = False,
    max_bytes: int = MAX_BYTES,
    rule: str | None = None,
) -> Any:
    """The JSON value in the file at ``path``, a ``what`` (e.g. ``"bundle"``, for
    messages). ``integers_only`` refuses numbers with a fraction or exponent;
    ``rule`` is the format rule (spec/rule_codes.json) a malformed text breaks.

    Raises UserInputError: cannot read, too large, not UTF-8, not valid JSON, a
    limit above exceeded, or (``integers_only``) a non-integer number."""
    label = _label(path, what)
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UserInputError(f"cannot read {label}: {exc.strerror or exc}") from None
    return loads_json(raw, label, integers_only=integers_only, max_bytes=max_bytes, rule=rule)


def loads_json(
    data: str | bytes,
    where: str,
    *,
    integers_only: bool = False,
    max_bytes: int = MAX_BYTES,
    rule: str | None = None,
) -> Any:
    """:func:`load_json` for text or bytes already read; ``where`` names them."""

    def fail(message: str) -> UserInputError:
        return UserInputError(f"{where}: {message}", rule=rule)

    if len(data) > max_bytes:
        raise fail(f"larger than {max_bytes:,} bytes")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(f"not UTF-8 text (byte {exc.start})") from None

    def no_constant(name: str) -> Any:
        raise fail(f"{name} is not a JSON number")

    def no_float(number: str) -> Any:
        raise fail(f"only integers are allowed, got {number!r:.40}")

    def integer(digits: str) -> int:
        if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
            raise fail(f"an integer has more than {MAX_INT_DIGITS} digits")
        return int(digits)

    def one_spelling(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise fail(f"duplicate key {key!r:.60}")
                seen.add(key)
        return obj

    try:
        value = json.loads(
            data,
            parse_constant=no_constant,
            parse_float=no_float if integers_only else None,
            parse_int=integer,
            object_pairs_hook=one_spelling,
        )
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise fail(f"nested deeper than {MAX_DEPTH} levels") from None
    _check_depth(value, fail)
    return value


def _check_depth(value: Any, fail: Callable[[str], UserInputError]) -> None:
    """Walk the parsed value without recursion; refuse nesting over MAX_DEPTH."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > MAX_DEPTH:
            raise fail(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_INT_DIGITS", "load_json", "loads_json"]
