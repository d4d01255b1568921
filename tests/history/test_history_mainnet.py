"""Real mainnet headers (tests/vectors/chain/headers) as hop endpoints: the Prague
fork boundary in the real chain agrees with the activation of chain 1 (the first
Prague block stores its parent's hash, 22,431,083, the first hash the history
contract holds), every Prague/Osaka header decodes as a hop source, and the hop rules
on pairs of real headers follow from their numbers alone. No public fixture we
found holds a real history-contract proof, so the storage walk of a real hop is not
tested here (the devnet's are, tests/history/test_deep_history.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from locations import CHAIN_VECTORS

from coprocessor.chain.headers import Header, header_from_json
from coprocessor.chain.history import (
    WINDOW,
    HistoryRuleError,
    activation,
    check_activation,
    check_range,
)

MAINNET = 1


def _headers() -> dict[int, Header]:
    out = {}
    for path in sorted((CHAIN_VECTORS / "headers").glob("*.json")):
        header = header_from_json(json.loads(Path(path).read_text()))  # hash checked
        out[header.number] = header
    return out


def test_the_fork_boundary_is_the_activation() -> None:
    headers = _headers()
    first = activation(MAINNET)
    assert first is not None
    last_cancun, first_prague = headers[first], headers[first + 1]
    assert first_prague.parent_hash == last_cancun.hash  # the real chain links
    assert first_prague.field_count == 21 and last_cancun.field_count == 20
    for number, header in headers.items():  # requestsHash (Prague) exactly after it
        assert (header.field_count >= 21) == (number > first), number


def test_prague_and_osaka_headers_as_hop_endpoints() -> None:
    headers = _headers()
    first = activation(MAINNET)
    assert first is not None
    prague = sorted(n for n, h in headers.items() if h.field_count >= 21)
    assert len(prague) >= 8 and max(prague) > 24_000_000  # Osaka among them
    for source, target in itertools.permutations([first - 1, first, *prague], 2):
        where = f"{source} -> {target}"
        in_range = 1 <= source - target <= WINDOW
        if in_range:
            check_range(source, target, where)
        else:
            with pytest.raises(HistoryRuleError, match=r"not in \["):
                check_range(source, target, where)
        if target >= first:
            check_activation(target, first, MAINNET, where)
        else:
            with pytest.raises(HistoryRuleError) as exc:
                check_activation(target, first, MAINNET, where)
            assert exc.value.history_rule == "hop_activation"
