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
from coprocessor.service.config import ServiceConfig
from coprocessor.service.metrics import Labels, Metric, Registry
from coprocessor.zk.prover import Progress, ProveRequest, prove_receipt
from coprocessor.zk.prover_pool import ProverPool, parse_config


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


def prover_for(config: ServiceConfig) -> Prover:
    """The service's prover: the remote proving pool (``coprocessor.zk.prover_pool``)
    when ``provers`` is configured, else :func:`make_prover` of ``prover``."""
    if not config.provers:
        return make_prover(config.prover)
    endpoints, policy = parse_config(config.provers, config.prover_pool)
    return ProverPool(endpoints, policy)


class PoolAttempts(Metric):
    """``coproc_prover_attempts_total``: the pool's attempt counts, read at render time."""

    def __init__(self, pool: ProverPool) -> None:
        super().__init__(
            "coproc_prover_attempts_total",
            "Remote prover attempts by endpoint and outcome (ok|error|timeout|mismatch)",
            "counter",
        )
        self.pool = pool

    def render(self) -> list[str]:
        return [
            f'{self.name}{{endpoint="{name}",outcome="{outcome}"}} {count}'
            for name, state in sorted(self.pool.snapshot().items())
            for outcome, count in sorted(state["counts"].items())
        ]


def export_metrics(prover: Prover, registry: Registry) -> None:
    """The pool's counts and gauges on ``/metrics`` (nothing for other provers)."""
    if not isinstance(prover, ProverPool):
        return
    pool = prover

    def gauge(key: str) -> dict[Labels, float]:
        return {(("endpoint", n),): float(s[key]) for n, s in pool.snapshot().items()}

    registry.add(PoolAttempts(pool))
    registry.gauge(
        "coproc_prover_in_flight", "Remote proofs running per endpoint", lambda: gauge("in_flight")
    )
    registry.gauge(
        "coproc_prover_cooling",
        "1 while an endpoint is skipped after failures in a row",
        lambda: gauge("cooling"),
    )
