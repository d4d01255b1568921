"""Run every benchmark module of this package (those defining ``main()``).

``python -m bench`` runs them all except the real-proof ones (``SLOW``: an hour or more
of CPU proving each), which run only when named: ``python -m bench prover_opt_levels``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

#: Real (not dev-mode) proofs on the CPU prover: hours on 2 cores, run by name only.
SLOW = frozenset({"prove_batch_check", "prover_opt_levels"})


def main() -> int:
    wanted = set(sys.argv[1:])
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name not in ("common", "__main__")
    )
    for name in names:
        if (wanted and name not in wanted) or (not wanted and name in SLOW):
            continue
        module = importlib.import_module(f"bench.{name}")
        if hasattr(module, "main"):
            print(f"## bench.{name}", flush=True)
            module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
