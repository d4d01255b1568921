"""A pool of remote provers: several Bonsai-API endpoints (the hosted service, or a
self-hosted Bento cluster, which serves the same REST API), each with its own
concurrency limit, tried in order with a per-attempt timeout, retries with backoff and
failover to the next endpoint.

Every attempt is one ``coproc-host prove`` run with ``RISC0_PROVER=bonsai`` and that
endpoint's ``BONSAI_API_URL``/``BONSAI_API_KEY``. The host first executes the guest
locally (its ``executed`` progress event carries that journal), then asks the endpoint
for a receipt, and refuses one whose journal differs from the local execution. The pool
checks the same rule again on what the host returns: a receipt is accepted only if its
journal equals the local executor's journal. A receipt for another journal is that
endpoint's failure (logged, counted as ``mismatch``), never a result.

What is whose fault: an error before the local execution finished (the guest rejected
the data, a bad input file, a missing binary) is the request's, raised at once with no
failover; anything after it (HTTP errors, a ``FAILED`` session, a timeout, a receipt
that does not verify or proves another journal) is the endpoint's.

Health: an endpoint that failed ``max_failures`` attempts in a row is skipped for
``cooldown_seconds``, then tried again (one more failure cools it down again; one
success resets the count).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from coprocessor.errors import CoprocessorError, ToolError, UserInputError, VerificationError
from coprocessor.zk.prover import PROVE_TIMEOUT, Progress, ProveRequest, prove_receipt

log = logging.getLogger("coproc.prover_pool")

#: outcomes of one attempt, as counted per endpoint
OUTCOMES = ("ok", "error", "timeout", "mismatch")


@dataclass(frozen=True)
class Endpoint:
    """One Bonsai-API endpoint (config ``provers`` entry)."""

    url: str
    #: environment variable holding its API key (the key never lives in the config)
    api_key_env: str
    max_concurrent: int = 1
    #: one attempt's limit (local execution + upload + proving + download), seconds
    timeout_seconds: float = PROVE_TIMEOUT

    @property
    def name(self) -> str:
        """``scheme://host[:port][/path]``: how logs and metrics name it (no user
        info, query or fragment, where a credential could hide)."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"

    def api_key(self) -> str:
        value = os.environ.get(self.api_key_env)
        if not value:
            raise UserInputError(f"config provers {self.name}: ${self.api_key_env} is not set")
        return value


@dataclass(frozen=True)
class Policy:
    """Retries and health (config ``prover_pool``)."""

    #: attempts per proof, across endpoints
    attempts: int = 4
    #: wait before trying again an endpoint already tried for this proof (doubles)
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    #: failures in a row that put an endpoint in cool-down, and for how long
    max_failures: int = 3
    cooldown_seconds: float = 60.0


ENDPOINT_KEYS: dict[str, type] = {
    "url": str,
    "api_key_env": str,
    "max_concurrent": int,
    "timeout_seconds": float,
}
POLICY_KEYS: dict[str, type] = {
    "attempts": int,
    "backoff_seconds": float,
    "backoff_max_seconds": float,
    "max_failures": int,
    "cooldown_seconds": float,
}


def _typed(where: str, raw: object, keys: Mapping[str, type]) -> dict[str, Any]:
    """``raw`` as a dict of known keys with values of the right types."""
    if not isinstance(raw, dict):
        raise UserInputError(f"config {where}: expected an object")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise UserInputError(f"config {where}: unknown key(s) {', '.join(unknown)}")
    for key, value in raw.items():
        want = keys[key]
        ok = isinstance(value, want) or (want is float and isinstance(value, int))
        if not ok or isinstance(value, bool):
            kind = {int: "an integer", float: "a number", str: "a string"}[want]
            raise UserInputError(f"config {where}: {key} must be {kind}")
    return dict(raw)


def parse_endpoint(index: int, raw: object) -> Endpoint:
    """One ``provers`` entry: url (http/https), api_key_env, max_concurrent >= 1,
    timeout_seconds > 0."""
    where = f"provers[{index}]"
    values = _typed(where, raw, ENDPOINT_KEYS)
    for key in ("url", "api_key_env"):
        if not values.get(key):
            raise UserInputError(f"config {where}: {key} is required")
    if urlsplit(values["url"]).scheme not in ("http", "https"):
        raise UserInputError(f"config {where}: url must be http:// or https://")
    if values.get("max_concurrent", 1) < 1:
        raise UserInputError(f"config {where}: max_concurrent must be at least 1")
    if values.get("timeout_seconds", 1) <= 0:
        raise UserInputError(f"config {where}: timeout_seconds must be positive")
    return Endpoint(**values)


def parse_policy(raw: object) -> Policy:
    """The ``prover_pool`` object: attempts, max_failures >= 1; waits >= 0."""
    values = _typed("prover_pool", raw, POLICY_KEYS)
    for key in ("attempts", "max_failures"):
        if values.get(key, 1) < 1:
            raise UserInputError(f"config prover_pool: {key} must be at least 1")
    for key in ("backoff_seconds", "backoff_max_seconds", "cooldown_seconds"):
        if values.get(key, 0) < 0:
            raise UserInputError(f"config prover_pool: {key} must not be negative")
    return Policy(**values)


def parse_config(provers: list[Any], policy: object) -> tuple[list[Endpoint], Policy]:
    """The ``provers`` list and the ``prover_pool`` object, checked."""
    endpoints = [parse_endpoint(i, raw) for i, raw in enumerate(provers)]
    if len({e.name for e in endpoints}) != len(endpoints):
        raise UserInputError("config provers: the same url is listed twice")
    return endpoints, parse_policy(policy)


@dataclass
class _Health:
    """Mutable state of one endpoint (guarded by the pool's condition)."""

    in_flight: int = 0
    failures_in_a_row: int = 0
    cooled_until: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


class EndpointFailure(Exception):
    """One attempt failed because of the endpoint (internal to the pool)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


class ProverPool:
    """The service's ``Prover`` over a list of Bonsai-API endpoints (thread-safe: each
    proof runs in a worker thread and blocks while it waits for a free slot)."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        policy: Policy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoints:
            raise UserInputError("config provers: the pool needs at least one endpoint")
        for endpoint in endpoints:
            endpoint.api_key()  # refuse to start without the keys
        self.endpoints = list(endpoints)
        self.policy = policy or Policy()
        self._clock = clock
        self._cond = threading.Condition()
        self._health = {e.url: _Health() for e in self.endpoints}

    # ------------------------------------------------------------- the proof

    def prove(
        self, request: ProveRequest, dev: bool, *, on_progress: Progress | None = None
    ) -> dict[str, Any]:
        """A receipt whose journal equals the local execution's, from the first endpoint
        that delivers one; ToolError naming every failed attempt if none does."""
        failures: list[str] = []
        tried: list[str] = []
        for attempt in range(1, self.policy.attempts + 1):
            self._backoff(tried)
            endpoint = self._acquire(tried, failures)
            tried.append(endpoint.url)
            try:
                receipt = self._attempt(endpoint, attempt, request, dev, on_progress)
            except EndpointFailure as failure:
                self._release(endpoint, failure.outcome)
                failures.append(f"{endpoint.name}: {failure.reason}")
                continue
            except BaseException:
                self._release(endpoint, None)  # the request's fault, not the endpoint's
                raise
            self._release(endpoint, "ok")
            return receipt
        raise ToolError(f"prover pool: {len(failures)} attempts failed: " + "; ".join(failures))

    def _attempt(
        self,
        endpoint: Endpoint,
        attempt: int,
        request: ProveRequest,
        dev: bool,
        on_progress: Progress | None,
    ) -> dict[str, Any]:
        """One ``coproc-host prove`` against ``endpoint``; the receipt, or
        EndpointFailure when the endpoint is to blame."""
        executed: list[str] = []

        def relay(event: dict[str, Any]) -> None:
            if event.get("event") == "executed" and isinstance(event.get("journal_hex"), str):
                executed.append(event["journal_hex"])
            if on_progress is not None:
                on_progress({**event, "endpoint": endpoint.name, "attempt": attempt})

        env = {
            "RISC0_PROVER": "bonsai",
            "BONSAI_API_URL": endpoint.url,
            "BONSAI_API_KEY": endpoint.api_key(),
        }
        try:
            receipt = prove_receipt(
                request, dev=dev, timeout=endpoint.timeout_seconds, on_progress=relay, env=env
            )
        except CoprocessorError as exc:
            if not executed:
                raise  # the local execution failed: the request's fault
            raise EndpointFailure(_outcome(exc), str(exc).splitlines()[0][:300]) from None
        return self._checked(endpoint, receipt, executed[0])

    def _checked(self, endpoint: Endpoint, receipt: dict[str, Any], local: str) -> dict[str, Any]:
        """The rule: a receipt is accepted only if its journal is the local execution's."""
        if not journal_matches(receipt, local):
            log.error(
                "prover %s returned a receipt for another journal than the local execution: "
                "refused",
                endpoint.name,
            )
            raise EndpointFailure("mismatch", "receipt for another journal (refused)")
        return receipt

    # ------------------------------------------------------- slots and health

    def _acquire(self, tried: list[str], failures: list[str]) -> Endpoint:
        """A slot on the first endpoint not cooling down, preferring those not tried yet
        for this proof (failover); waits while the preferred ones are all busy."""
        with self._cond:
            while True:
                now = self._clock()
                healthy = [e for e in self.endpoints if self._health[e.url].cooled_until <= now]
                if not healthy:
                    detail = "; ".join(failures) if failures else "no attempt made"
                    raise ToolError(
                        f"prover pool: every endpoint is cooling down after failures ({detail})"
                    )
                fresh = [e for e in healthy if e.url not in tried]
                preferred = fresh or sorted(healthy, key=lambda e: tried.count(e.url))
                for endpoint in preferred:
                    health = self._health[endpoint.url]
                    if health.in_flight < endpoint.max_concurrent:
                        health.in_flight += 1
                        return endpoint
                self._cond.wait(timeout=1.0)

    def _release(self, endpoint: Endpoint, outcome: str | None) -> None:
        with self._cond:
            health = self._health[endpoint.url]
            health.in_flight -= 1
            if outcome is not None:
                health.counts[outcome] += 1
            if outcome == "ok":
                health.failures_in_a_row = 0
            elif outcome is not None:
                health.failures_in_a_row += 1
                log.warning(
                    "prover %s: attempt failed (%s), %d in a row",
                    endpoint.name,
                    outcome,
                    health.failures_in_a_row,
                )
                if health.failures_in_a_row >= self.policy.max_failures:
                    health.cooled_until = self._clock() + self.policy.cooldown_seconds
                    log.warning(
                        "prover %s: skipped for %g s after %d failures in a row",
                        endpoint.name,
                        self.policy.cooldown_seconds,
                        health.failures_in_a_row,
                    )
            self._cond.notify_all()

    def _backoff(self, tried: list[str]) -> None:
        """Once every healthy endpoint was tried for this proof, wait before the next
        round: base * 2^(round - 1), capped (no slot is held while waiting)."""
        with self._cond:
            now = self._clock()
            healthy = [e.url for e in self.endpoints if self._health[e.url].cooled_until <= now]
        rounds = min((tried.count(url) for url in healthy), default=0)
        if rounds > 0:
            delay = self.policy.backoff_seconds * 2 ** (rounds - 1)
            time.sleep(min(delay, self.policy.backoff_max_seconds))

    # ------------------------------------------------------------ observation

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per endpoint name: in_flight, cooling (bool), failures_in_a_row, and the
        attempt counts by outcome (ok, error, timeout, mismatch)."""
        with self._cond:
            now = self._clock()
            out: dict[str, dict[str, Any]] = {}
            for endpoint in self.endpoints:
                health = self._health[endpoint.url]
                out[endpoint.name] = {
                    "in_flight": health.in_flight,
                    "cooling": health.cooled_until > now,
                    "failures_in_a_row": health.failures_in_a_row,
                    "counts": dict(health.counts),
                }
            return out


def journal_matches(receipt: dict[str, Any], local_journal_hex: str) -> bool:
    """Whether a receipt dict's ``journal_hex`` is the local execution's journal."""
    remote = receipt.get("journal_hex")
    if not isinstance(remote, str) or not remote.removeprefix("0x"):
        return False
    return remote.lower().removeprefix("0x") == local_journal_hex.lower().removeprefix("0x")


def _outcome(exc: CoprocessorError) -> str:
    """How an attempt that reached the endpoint failed, for the counts."""
    if isinstance(exc, VerificationError):
        return "mismatch" if "another journal" in str(exc) else "error"
    if isinstance(exc, ToolError) and "timed out after" in str(exc):
        return "timeout"
    return "error"


__all__ = [
    "OUTCOMES",
    "Endpoint",
    "Policy",
    "ProverPool",
    "journal_matches",
    "parse_config",
    "parse_endpoint",
    "parse_policy",
]
