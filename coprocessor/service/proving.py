"""How the service reaches a zkVM prover: a small protocol of its own, so jobs run with
a test double in unit tests and with the real prover (``coprocessor.prover``, the
guest's host CLI) in the product. When no prover is configured or importable, the
proving stage fails with a clear error; nothing here ever pretends a proof exists.

A receipt dict is what ``coproc-host prove`` writes (format ``coproc-receipt`` v1); the
service reads ``journal_hex``, ``seal_hex`` (the on-chain seal, ``null`` for composite
receipts), ``image_id``, ``dev_mode`` and ``cycles``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from coprocessor.errors import ToolError, UserInputError
from coprocessor.features import Spec
from coprocessor.models.model import Model

Progress = Callable[[dict[str, Any]], None]


class Prover(Protocol):
    """Proves one request: runs the guest on (bundle, model, spec, subject, request id)."""

    def prove(
        self,
        bundle: dict[str, Any],
        model: Model,
        spec: Spec,
        subject: str,
        request_id: bytes,
        dev: bool,
        *,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        """The receipt dict (blocking; the worker runs it in a thread). ``on_progress``
        may be called (from that thread) with progress events (segments, cycles)."""
        ...


class NoProver:
    """Configured with ``prover: "none"``: every proof request fails, clearly."""

    def prove(
        self,
        bundle: dict[str, Any],
        model: Model,
        spec: Spec,
        subject: str,
        request_id: bytes,
        dev: bool,
        *,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        raise ToolError('no prover configured (config prover = "none"): cannot prove')


class ZkvmProver:
    """The real prover: ``coprocessor.prover.prove(bundle, model, spec, subject,
    request_id, dev)``, imported when first used (it lands with the guest)."""

    def prove(
        self,
        bundle: dict[str, Any],
        model: Model,
        spec: Spec,
        subject: str,
        request_id: bytes,
        dev: bool,
        *,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        try:
            module = importlib.import_module("coprocessor.prover")
        except ImportError:
            raise ToolError(
                "zkVM prover unavailable: coprocessor.prover is not installed"
            ) from None
        fn = getattr(module, "prove", None)
        if not callable(fn):
            raise ToolError("zkVM prover unavailable: coprocessor.prover has no prove()")
        receipt = fn(
            bundle=bundle,
            model=model,
            spec=spec,
            subject=subject,
            request_id=request_id,
            dev=dev,
            on_progress=on_progress,
        )
        if not isinstance(receipt, dict):
            raise ToolError("zkVM prover returned no receipt object")
        return receipt


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
        prover: Prover = factory()
        return prover
    raise UserInputError(
        f"config prover: expected none, zkvm or import:MODULE:FACTORY, not {setting!r}"
    )
