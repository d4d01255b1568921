"""Named crash points, for fault-injection tests of the service.

``COPROC_FAULT_AT=<point>:<n>`` makes the process kill itself with SIGKILL (what
``kill -9`` does: no cleanup, no ``finally``) the ``n``-th time it reaches ``<point>``;
without the variable :func:`reached` does nothing. The points are the steps of a job
where a crash leaves a different state behind (tests/service/test_fault_points.py
kills the service at each one and checks every job still ends done exactly once).
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from functools import cache

from coprocessor.errors import UserInputError

ENV = "COPROC_FAULT_AT"

#: every crash point, in the order a job reaches them, with the state a crash there leaves
POINTS: dict[str, str] = {
    "queued.committed": "admitted: the job is indexing, nothing fetched",
    "indexing.stored": "the bundle verified and cached in the store, no file written",
    "indexing.written": "the bundle file written, the move to scoring not committed",
    "indexing.committed": "the job is scoring",
    "scoring.scored": "the score computed, not committed",
    "scoring.committed": "the job is signing",
    "signing.signed": "the signature made, neither committed nor published",
    "signing.committed": "the signed result published, the job is proving",
    "proving.proved": "the receipt made and checked, not committed",
    "proving.committed": "the proven result published, the job is posting",
    "posting.recorded": "the transaction signed and recorded (posts table), not broadcast",
    "posting.sent": "the transaction broadcast, not yet mined or seen mined",
    "posting.landed": "the transaction mined, the move to done not committed",
    "posting.committed": "the job is done",
}

_hits: Counter[str] = Counter()


@cache
def _armed() -> tuple[str, int] | None:
    """The point and count of ``COPROC_FAULT_AT``, checked once per process."""
    text = os.environ.get(ENV, "")
    if not text:
        return None
    point, _, count = text.rpartition(":")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        raise UserInputError(f"{ENV}={text!r}: want <point>:<n>, n >= 1, a point of {list(POINTS)}")
    return point, int(count)


def check() -> None:
    """Refuse a malformed ``COPROC_FAULT_AT`` at start (UserInputError)."""
    _armed()


def reached(point: str) -> None:
    """The process is at ``point``: die there if ``COPROC_FAULT_AT`` says so."""
    if point not in POINTS:
        raise AssertionError(f"unknown crash point {point}")
    armed = _armed()
    if armed is None:
        return
    _hits[point] += 1
    if armed == (point, _hits[point]):
        print(f"fault injection: SIGKILL at {point}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
