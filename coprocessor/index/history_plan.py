"""Planning how a bundle v2 ties its read blocks to the anchor (docs/formats.md §1b).

Each read block (a *target*) is tied either by a short header chain up to a header
already in the bundle, or by EIP-2935 hops (one header and one storage proof of the
history contract each). Targets are taken from the newest down; each is reached from
what the bundle already proves, so hops are shared: a target or an intermediate
block proven for one read is the source of the next read's hop.

Intermediates are placed from the target *upward*: each is the highest block with a
state at most one window (8,191 blocks) above the previous, until one is within a hop
of a header already proven. That is as few hops as jumping down from the anchor
(tested against an exhaustive search on small windows), and the intermediates depend
on the target, not on the anchor: requests with later anchors reaching the same block
take the same hops below their first, which the store caches
(``history_index.py``).

A block the hops cannot reach (before the history contract's activation) is reached
by a header chain from the lowest block a hop can reach, within ``max_chain``
headers; beyond that the request is refused, naming the block and why.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from coprocessor.chain.history import WINDOW
from coprocessor.errors import UserInputError

#: a target at most this many blocks below a proven header is tied by its header
#: chain: a hop costs about as much guest work as this many headers
CHAIN_MAX = 8
#: the longest header chain a plan may use to reach blocks before the activation
MAX_CHAIN = 8_191


@dataclass(frozen=True)
class HistoryPlan:
    """Which headers a bundle carries and which hops tie them to the anchor."""

    anchor: int
    #: every header number, ascending (the anchor last)
    headers: tuple[int, ...]
    #: (from, to) hops, ascending by ``to``
    hops: tuple[tuple[int, int], ...]

    def sources(self) -> dict[int, tuple[int, ...]]:
        """Hop source block -> the target blocks whose slots are read there."""
        out: dict[int, list[int]] = {}
        for source, target in self.hops:
            out.setdefault(source, []).append(target)
        return {s: tuple(sorted(t)) for s, t in sorted(out.items())}

    def chain_headers(self) -> int:
        """Headers tied by a parent link (not the anchor, not hop targets)."""
        return len(self.headers) - 1 - len(self.hops)


def _available_all(_block: int) -> bool:
    return True


class _Planner:
    def __init__(
        self,
        anchor: int,
        first: int | None,
        window: int,
        chain_max: int,
        max_chain: int,
        available: Callable[[int], bool],
    ) -> None:
        self.anchor = anchor
        self.first = first
        self.window = window
        self.chain_max = chain_max
        self.max_chain = max_chain
        self.available = available
        self.headers: list[int] = [anchor]  # ascending
        self.hops: list[tuple[int, int]] = []

    def _add(self, block: int) -> None:
        i = bisect.bisect_left(self.headers, block)
        if i == len(self.headers) or self.headers[i] != block:
            self.headers.insert(i, block)

    def _above(self, block: int) -> int:
        """The lowest header above ``block``."""
        return self.headers[bisect.bisect_right(self.headers, block)]

    def _hop_source(self, target: int) -> int | None:
        """A proven block that can hop to ``target`` (it needs a state): one that is
        already a hop source if any (its account proof is shared), else the lowest."""
        i = bisect.bisect_right(self.headers, target)
        candidates = []
        for source in self.headers[i:]:
            if source - target > self.window:
                break
            if self.available(source):
                candidates.append(source)
        used = {s for s, _ in self.hops}
        shared = [s for s in candidates if s in used]
        pick = shared or candidates
        return pick[0] if pick else None

    def _step_up(self, target: int, block: int) -> int:
        """The next intermediate above ``block`` on the way up from ``target``: the
        highest block with a state that one hop from it reaches ``block``."""
        for above in range(min(block + self.window, self.anchor - 1), block, -1):
            if self.available(above):
                return above
        raise UserInputError(
            f"block {target}: no block with a state within {self.window} blocks above "
            f"block {block} to hop through"
        )

    def _climb(self, target: int) -> list[int]:
        """The intermediates from ``target`` up (ascending) until one has a hop source
        among the headers."""
        chain: list[int] = []
        block = target
        while self._hop_source(block) is None:
            block = self._step_up(target, block)
            chain.append(block)
        return chain

    def _chain(self, target: int, top: int) -> None:
        for block in range(target, top):
            self._add(block)

    def reach(self, target: int) -> None:
        if target in self.headers:
            return
        above = self._above(target)
        if above - target <= self.chain_max:
            self._chain(target, above)
            return
        if self.first is None or target < self.first:
            self._reach_before_activation(target)
            return
        for block in (*reversed(self._climb(target)), target):
            source = self._hop_source(block)
            assert source is not None  # the block above it was just added
            self.hops.append((source, block))
            self._add(block)

    def _reach_before_activation(self, target: int) -> None:
        """Hop down to the activation block, then a header chain to ``target``."""
        top = self._above(target)
        if self.first is not None and top > self.first and top - target > self.chain_max:
            self.reach(self.first)
            top = self._above(target)
        if top - target > self.max_chain:
            why = (
                "the chain has no known EIP-2935 activation"
                if self.first is None
                else f"it is before the history contract's activation (block {self.first})"
            )
            raise UserInputError(
                f"block {target}: hops cannot reach it ({why}) and the header chain "
                f"from block {top} would need {top - target} headers "
                f"(limit {self.max_chain})"
            )
        self._chain(target, top)


def plan_history(
    anchor: int,
    targets: Iterable[int],
    *,
    first: int | None,
    window: int = WINDOW,
    chain_max: int = CHAIN_MAX,
    max_chain: int = MAX_CHAIN,
    available: Callable[[int], bool] | None = None,
) -> HistoryPlan:
    """The headers and hops that tie every target block to ``anchor``.

    ``first`` is the chain's activation (None: no hops); ``available`` says which
    blocks have a state the node can prove (every block on an archive node); hop
    sources are chosen among them."""
    wanted = sorted(set(targets), reverse=True)
    for target in wanted:
        if target > anchor or target < 0:
            raise UserInputError(f"block {target}: not at or below the anchor {anchor}")
    planner = _Planner(anchor, first, window, chain_max, max_chain, available or _available_all)
    for target in wanted:
        planner.reach(target)
    headers = set(planner.headers)
    # a hop to a block whose child header is in the bundle is replaced by the parent
    # link (the format's canonical form ties such a block by its child)
    hops = sorted(((s, t) for s, t in planner.hops if t + 1 not in headers), key=lambda hop: hop[1])
    return HistoryPlan(anchor=anchor, headers=tuple(planner.headers), hops=tuple(hops))


__all__ = ["CHAIN_MAX", "MAX_CHAIN", "HistoryPlan", "plan_history"]
