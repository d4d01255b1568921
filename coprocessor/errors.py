"""The exception tree. Every error the package raises on purpose derives from
:class:`CoprocessorError`; the CLI turns those into one line and an exit code.

Errors that refine a built-in also inherit it (``UserInputError`` is a
``ValueError``), as web3.py and aiohttp do, so callers can catch either.

An error that breaks a rule of a format carries the rule's code from
``spec/rule_codes.json`` (the one definition, which the Rust core reads too):
``UserInputError("model: ...", rule="model_shape")`` prints as ``[M008] model: ...``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

RULES_PATH = Path(__file__).resolve().parent.parent / "spec" / "rule_codes.json"
_CODE_PREFIX = re.compile(r"\[([A-Z][0-9]{3})\] ")


@cache
def rule_codes() -> dict[str, str]:
    """Rule name -> code, from spec/rule_codes.json."""
    rules = json.loads(RULES_PATH.read_text())["rules"]
    return {str(r["name"]): str(r["code"]) for r in rules}


def rule_code(name: str) -> str:
    """The code of the rule called ``name`` (a name not in the spec is a bug: KeyError)."""
    return rule_codes()[name]


def rule_name(code: str) -> str | None:
    """The name of the rule with ``code``, or None if the spec has no such code."""
    return next((n for n, c in rule_codes().items() if c == code), None)


def split_code(text: str) -> tuple[str | None, str]:
    """``"[B008] message"`` -> (rule name, ``"message"``); text without a known code
    prefix -> (None, text). Reads the code the Rust core prints."""
    match = _CODE_PREFIX.match(text)
    name = rule_name(match.group(1)) if match else None
    return (name, text[match.end() :]) if match and name else (None, text)


class CoprocessorError(Exception):
    """Root of every deliberate error in this package.

    ``rule`` names the format rule the error breaks (``None`` for errors that are
    not a format rule: I/O, RPC, tools); ``code`` is its code and ``str(error)`` is
    ``"[CODE] message"``."""

    #: process exit code the CLI uses for this kind of error
    exit_code: int = 2
    rule: str | None = None
    code: str | None = None

    def __init__(self, *args: object, rule: str | None = None) -> None:
        super().__init__(*args)
        if rule is not None:
            self.rule, self.code = rule, rule_code(rule)

    @property
    def message(self) -> str:
        """The message without the code."""
        return super().__str__()

    def __str__(self) -> str:
        text = super().__str__()
        return f"[{self.code}] {text}" if self.code else text


class UserInputError(CoprocessorError, ValueError):
    """Bad arguments, malformed files or values given by the user (exit 2)."""


class VerificationError(CoprocessorError):
    """Chain data failed verification: a hash, proof or link does not match (exit 1).

    Tampered data always ends here; nothing that raised it is stored or emitted.
    """

    exit_code = 1


class RpcError(CoprocessorError):
    """A JSON-RPC call failed. ``response`` keeps the raw error object when there is one."""

    def __init__(self, message: str, response: object | None = None) -> None:
        super().__init__(message)
        self.response = response


class RpcTimeoutError(RpcError, TimeoutError):
    """A JSON-RPC call did not answer in time."""


class ChainMismatchError(RpcError):
    """The node serves another chain than the one expected."""


class StoreError(CoprocessorError):
    """The SQLite store is unusable (wrong schema version, corrupt file)."""


class ToolError(CoprocessorError):
    """An external tool (anvil, forge, coproc-host) is missing or failed."""
