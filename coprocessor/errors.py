"""The exception tree. Every error the package raises on purpose derives from
:class:`CoprocessorError`; the CLI turns those into one line and an exit code.

Errors that refine a built-in also inherit it (``UserInputError`` is a
``ValueError``), as web3.py and aiohttp do, so callers can catch either.
"""

from __future__ import annotations


class CoprocessorError(Exception):
    """Root of every deliberate error in this package."""

    #: process exit code the CLI uses for this kind of error
    exit_code: int = 2


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
