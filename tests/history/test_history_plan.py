"""The hop planner (coprocessor/index/history_plan.py): every target tied to the
anchor, hops within the window, and the fewest headers, checked against an
exhaustive search on small windows."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coprocessor.errors import UserInputError
from coprocessor.index.history_plan import HistoryPlan, plan_history


def _check_valid(plan: HistoryPlan, targets: set[int], window: int, first: int) -> None:
    """Independent check of the format's tie rules on the plan."""
    headers = set(plan.headers)
    assert plan.headers[-1] == plan.anchor and list(plan.headers) == sorted(headers)
    assert targets <= headers
    by_target = dict((t, s) for s, t in plan.hops)
    assert len(by_target) == len(plan.hops)
    for source, target in plan.hops:
        assert source in headers and 1 <= source - target <= window and target >= first
        assert target + 1 not in headers
    for number in plan.headers[:-1]:
        assert number + 1 in headers or number in by_target


def _fewest(anchor: int, targets: set[int], window: int) -> int:
    """The fewest proven blocks (besides the anchor) covering the targets when each
    block is proven by one hop from a higher proven block (exhaustive)."""
    low = min(targets)
    free = [b for b in range(low, anchor) if b not in targets]
    for extra in range(len(free) + 1):
        for chosen in itertools.combinations(free, extra):
            proven = {anchor, *targets, *chosen}
            if all(any(0 < p - b <= window for p in proven) for b in proven - {anchor}):
                return len(proven) - 1
    raise AssertionError("unreachable")


@settings(max_examples=150, deadline=None)
@given(
    window=st.integers(2, 4),
    anchor=st.integers(10, 16),
    data=st.data(),
)
def test_fewest_headers_against_exhaustive_search(
    window: int, anchor: int, data: st.DataObject
) -> None:
    targets = set(data.draw(st.lists(st.integers(0, anchor - 1), min_size=1, max_size=4)))
    plan = plan_history(anchor, targets, first=0, window=window, chain_max=0)
    _check_valid(plan, targets, window, 0)
    assert len(plan.headers) - 1 == _fewest(anchor, targets, window)


def test_a_deep_read_takes_ceil_distance_over_window_hops() -> None:
    plan = plan_history(64_000, [4_000], first=0)
    assert len(plan.hops) == 8  # 60,000 / 8,191 -> 8 hops
    _check_valid(plan, {4_000}, 8191, 0)
    # a second read near the first shares its hops: one more hop
    both = plan_history(64_000, [4_000, 5_000], first=0)
    assert len(both.hops) == 9


def test_close_reads_use_the_header_chain() -> None:
    plan = plan_history(100, [97, 95], first=0)
    assert plan.hops == () and plan.headers == (95, 96, 97, 98, 99, 100)


def test_hop_sources_are_blocks_with_a_state() -> None:
    def every_thousand(block: int) -> bool:
        return block % 1000 == 0 or block == 64_000

    plan = plan_history(64_000, [3_000], first=0, available=every_thousand)
    _check_valid(plan, {3_000}, 8191, 0)
    assert all(every_thousand(s) for s, _ in plan.hops)
    assert len(plan.hops) == 8  # 8,000 per hop


def test_blocks_before_the_activation_take_a_header_chain() -> None:
    plan = plan_history(30_000, [9_990], first=10_000)
    _check_valid(plan, set(), 8191, 10_000)
    assert plan.headers[0] == 9_990 and 10_000 in plan.headers
    with pytest.raises(UserInputError, match="block 100: hops cannot reach it"):
        plan_history(30_000, [100], first=10_000, max_chain=1000)
    with pytest.raises(UserInputError, match="no known EIP-2935 activation"):
        plan_history(30_000, [100], first=None)


def test_targets_above_the_anchor_are_refused() -> None:
    with pytest.raises(UserInputError, match="not at or below the anchor"):
        plan_history(100, [101], first=0)
