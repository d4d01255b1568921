"""The watcher's parts that need no chain: sampling decisions and durable state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coprocessor.errors import UserInputError
from coprocessor.service.watch_store import Check, WatchStore
from coprocessor.service.watcher import WatchConfig, sampled


def test_sampling_rate_follows_p() -> None:
    """Over 20,000 random signatures the share sampled is p within 4 standard deviations,
    for several p; p = 0 samples nothing and p = 1 everything."""
    secret = os.urandom(32)
    signatures = ["0x" + os.urandom(65).hex() for _ in range(20_000)]
    for p in (0.05, 0.2, 0.5):
        share = sum(sampled(secret, s, p) for s in signatures) / len(signatures)
        sigma = (p * (1 - p) / len(signatures)) ** 0.5
        assert abs(share - p) < 4 * sigma, (p, share)
    assert not any(sampled(secret, s, 0.0) for s in signatures[:1000])
    assert all(sampled(secret, s, 1.0) for s in signatures[:1000])


def test_sampling_is_keyed_and_stable() -> None:
    """The same secret decides the same way (restarts); another secret differently."""
    signatures = ["0x" + os.urandom(65).hex() for _ in range(2_000)]
    a, b = os.urandom(32), os.urandom(32)
    first = [sampled(a, s, 0.5) for s in signatures]
    assert first == [sampled(a, s.upper().replace("0X", "0x"), 0.5) for s in signatures]
    assert first != [sampled(b, s, 0.5) for s in signatures]


def sig(n: int) -> str:
    return f"0x{n:064x}"


def _check(event_id: int, outcome: str = "match") -> Check:
    return Check(sig(event_id), event_id, "0xab", "0xcd", 7, "0xef", 10, outcome)


def test_state_survives_reopen(tmp_path: Path) -> None:
    """Cursor, secret, checks and a pending challenge are all there after a reopen; the
    cursor never moves back; a settled challenge is no longer pending."""
    store = WatchStore(tmp_path / "watch.sqlite")
    secret = store.secret(None)
    store.record(_check(3))
    store.record(_check(5, "mismatch"), {"contract": "0x01", "function": "challenge"})
    store.advance(4)  # an older event id does not move the cursor back
    store.close()
    again = WatchStore(tmp_path / "watch.sqlite")
    assert again.cursor() == 5
    assert again.secret(None) == secret
    assert again.seen(sig(3)) and not again.seen(sig(4))
    assert again.outcome_counts() == {"match": 1, "mismatch": 1}
    pending = again.pending_challenges()
    assert [(sig, req["function"]) for sig, _, req in pending] == [(sig(5), "challenge")]
    again.settle(sig(5), "filed", tx_hash="0xaa", reward_wei=5 * 10**17)
    assert again.pending_challenges() == []
    assert again.reward_total() == 5 * 10**17
    with pytest.raises(ValueError):
        again.settle(sig(5), "bogus")
    again.close()


def test_config_refusals() -> None:
    with pytest.raises(UserInputError, match="probability"):
        WatchConfig("http://x", "http://y", probability=1.5).validate()
    with pytest.raises(UserInputError, match="--feed"):
        WatchConfig("ftp://x", "http://y").validate()
