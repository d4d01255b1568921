"""The planner places intermediate hops from the target up, so they do not depend on
the anchor: a later anchor reaching the same block takes every hop of an earlier
anchor's plan but the earlier anchor's own (what makes the store's hop cache useful).
That they are as few as jumping down from the anchor is checked exhaustively in
test_history_plan.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coprocessor.index.history_plan import plan_history


@settings(max_examples=300, deadline=None)
@given(
    window=st.integers(2, 12),
    target=st.integers(0, 60),
    gap=st.integers(1, 80),
    later=st.integers(1, 80),
    data=st.data(),
    extra=st.sets(st.integers(0, 250), max_size=20),
    chain_max=st.integers(0, 3),
)
def test_a_later_anchor_takes_the_earlier_hops_below_its_own(
    window: int,
    target: int,
    gap: int,
    later: int,
    data: st.DataObject,
    extra: set[int],
    chain_max: int,
) -> None:
    # states every ``stride`` blocks (at most a window apart: every block is reachable)
    # and at some others; the anchors have one
    stride = data.draw(st.integers(1, window))
    first, second = target + gap, target + gap + later

    def available(block: int) -> bool:
        return block % stride == 0 or block in extra or block in (first, second)

    def hops(anchor: int) -> set[tuple[int, int]]:
        plan = plan_history(
            anchor, [target], first=0, window=window, chain_max=chain_max, available=available
        )
        return set(plan.hops)

    earlier, latest = hops(first), hops(second)
    assert {(s, t) for s, t in earlier if s != first} <= latest


def test_two_anchors_share_the_hops_below_the_earlier_one() -> None:
    """By hand: window 10, target 10, anchors 100 and 105: hops 20 -> 10 .. 90 -> 80,
    then each anchor's own (100 -> 90; 105 -> 100 -> 90)."""
    ladder = {(b + 10, b) for b in range(10, 90, 10)}
    earlier = set(plan_history(100, [10], first=0, window=10, chain_max=0).hops)
    latest = set(plan_history(105, [10], first=0, window=10, chain_max=0).hops)
    assert earlier == ladder | {(100, 90)}
    assert latest == ladder | {(105, 100), (100, 90)}
