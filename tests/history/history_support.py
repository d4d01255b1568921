"""What the history suites share with their conftest (no tests here): which blocks
of the devnet history have a state the node can prove."""

from __future__ import annotations

from collections.abc import Callable

from coprocessor.dev.history import History


def history_available(history: History) -> Callable[[int], bool]:
    """The checkpoints and the last 9 blocks (eth_getProof works there)."""
    blocks = set(history.checkpoints) | set(range(history.head - 8, history.head + 1))
    return blocks.__contains__
