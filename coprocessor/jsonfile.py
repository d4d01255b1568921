"""The one way this project reads a JSON file.

Every file format (bundle, feature spec, model, receipt, config, devnet files,
test vectors) is read through :func:`load_json`, so every one fails the same way:
one :class:`~coprocessor.errors.UserInputError` line naming what the file was
meant to be, the file, and what was wrong with it.

JSON has no NaN or infinity; Python's reader accepts them by default, this one
does not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coprocessor.errors import UserInputError


def _label(path: str | os.PathLike[str], what: str) -> str:
    return f"{what} {os.fspath(path)}" if what else os.fspath(path)


def load_json(path: str | os.PathLike[str], what: str, *, integers_only: bool = False) -> Any:
    """The JSON value in the file at ``path``, a ``what`` (e.g. ``"bundle"``, for
    messages). ``integers_only`` refuses numbers with a fraction or exponent.

    Raises UserInputError: cannot read, not UTF-8, not valid JSON, NaN/infinity,
    or (``integers_only``) a non-integer number."""
    label = _label(path, what)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UserInputError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    return loads_json(text, label, integers_only=integers_only)


def loads_json(text: str, where: str, *, integers_only: bool = False) -> Any:
    """:func:`load_json` for text already read; ``where`` names it in messages."""

    def no_constant(name: str) -> Any:
        raise UserInputError(f"{where}: {name} is not a JSON number")

    def no_float(number: str) -> Any:
        raise UserInputError(f"{where}: only integers are allowed, got {number!r:.40}")

    try:
        return json.loads(
            text,
            parse_constant=no_constant,
            parse_float=no_float if integers_only else None,
        )
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except UserInputError:
        raise
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise UserInputError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise UserInputError(f"{where}: not valid JSON (nested too deeply)") from None


__all__ = ["load_json", "loads_json"]
