"""Verifiable risk scores computed from proven Ethereum chain data."""

import sys

#: Python's own default. py_ecc (imported by eth_account, so by web3) raises the
#: limit to 100,000 when it is imported, far deeper than the C stack holds: a
#: deeply nested input (JSON, RLP) then crashed the process with a segmentation
#: fault instead of raising RecursionError. py_ecc is imported here first so its
#: change happens once, now, and is undone; nothing in this package needs more (every
#: recursion an input can drive has its own fixed bound: coprocessor/jsonfile.py,
#: coprocessor/chain/rlpdepth.py).
RECURSION_LIMIT = 1000

import py_ecc  # noqa: E402,F401  (see RECURSION_LIMIT)

sys.setrecursionlimit(RECURSION_LIMIT)

from coprocessor.errors import CoprocessorError  # noqa: E402

__all__ = ["RECURSION_LIMIT", "CoprocessorError"]
__version__ = "0.1.0"
