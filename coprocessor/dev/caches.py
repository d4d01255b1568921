"""Build the long devnet chains the test suite reads, once per machine, before it runs.

The deep-history devnet (60,000+ blocks, :mod:`coprocessor.dev.history`) and the simulated
Aave/Morpho markets (:mod:`coprocessor.dev.markets.cache`) take minutes to build the
first time on a machine (longer when the machine is busy), then load from
``$COPROC_CACHE`` in seconds. Built inside a test they would count against that test's
timeout; ``make test`` builds them here first, with progress on stderr. A no-op when both
are cached.
"""

from __future__ import annotations

import sys
import time

from coprocessor.dev.history import ensure_history
from coprocessor.dev.markets.cache import ensure_built
from coprocessor.errors import CoprocessorError


def _say(message: str) -> None:
    print(f"[caches] {message}", file=sys.stderr, flush=True)


def main() -> int:
    try:
        started = time.monotonic()
        history = ensure_history()
        _say(f"deep-history devnet ready ({time.monotonic() - started:.0f} s): {history.state}")
        started = time.monotonic()
        markets = ensure_built(say=lambda m: _say(f"markets: {m}"))
        _say(f"simulated markets ready ({time.monotonic() - started:.0f} s): {markets}")
    except CoprocessorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
