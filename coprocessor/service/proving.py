"""How the service reaches a zkVM prover: a small protocol of its own, so jobs run with
a test double in unit tests and with the real prover (``coprocessor.zk.prover``, the
guest's host CLI) in the product. When no prover is configured or importable, the
proving stage fails with a clear error; nothing here ever pretends a proof exists.

A receipt dict is what ``coproc-host prove`` writes (format ``coproc-receipt`` v1); the
service reads ``journal_hex``, ``seal_hex`` (the on-chain seal, ``null`` for composite
receipts), ``image_id``, ``dev_mode`` and ``cycles``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from coprocessor.errors import ToolError, UserInputError
from coprocessor.zk.prover import Progress, ProveRequest, prove_receipt


class Prover(Protocol):
    """Proves one request: runs the guest on its bundle, model and spec files."""

    def prove(
        self, request: ProveRequest, dev: bool, *, on_progress: Progress | None = None
    ) -> dict[str, Any]:
        """The receipt dict (blocking; the worker runs it in a thread). ``on_progress``
        may be called (from that thread) with progress events (segments, cycles)."""
        ...


class NoProver:
    """Configured with ``prover: "none"``: every proof request fails, clearly."""

    def prove(
        self, request: ProveRequest, dev: bool, *, on_progress: Progress | None = None
    ) -> dict[str, Any]:
        raise ToolError('no prover configured (config prover = "none"): cannot prove')


class ZkvmProver:
    """The real prover: ``coproc-host prove`` through
    ``coprocessor.zk.prover.prove_receipt``."""

    def prove(
        self, request: ProveRequest, dev: bool, *, on_progress: Progress | None = None
    ) -> dict[str, Any]:
        return prove_receipt(request, dev=dev, on_progress=on_progress)


def make_prover(setting: str) -> Prover:
    """``none``, ``zkvm`` or ``import:package.module:factory`` (a callable returning a
    Prover: how a remote prover or a test double is plugged in)."""
    if setting == "none":
        return NoProver()
    if setting == "zkvm":
        return ZkvmProver()
    if setting.startswith("import:"):
        target = setting.removeprefix("import:")
        module_name, _, attr = target.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            raise UserInputError(f"config prover: cannot import {target!r}") from None
        made: Prover = factory()
        return made
    raise UserInputError(
        f"config prover: expected none, zkvm or import:MODULE:FACTORY, not {setting!r}"
    )
