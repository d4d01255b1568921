"""Why the listener refuses a request, rule by rule (no node needed: the rules read the
event's fields, the served catalog, the chain's settings and the source chain's head)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from service_backends import default_store
from service_support import model_hash, spec_hash, write_models

from coprocessor.service.catalog import load_catalog
from coprocessor.service.config import ServiceConfig
from coprocessor.service.listener import (
    MAX_EXACT_AGE,
    RULE_EXACT,
    RULE_NOT_BEFORE,
    ChainSettings,
    Listener,
)

HEAD = 1_000
MIN_FEE = 500


@pytest.fixture
def listener(tmp_path: Path) -> Listener:
    runtime: Any = SimpleNamespace(
        db=default_store(tmp_path),
        catalog=load_catalog(write_models(tmp_path / "models")),
        config=ServiceConfig(ancestors=2),
    )
    settings = ChainSettings.of(
        {"name": "l1", "requests": "0x" + "11" * 20, "min_fee_wei": MIN_FEE}, "http://127.0.0.1:1"
    )
    return Listener(runtime, settings)


def _event(**change: Any) -> dict[str, Any]:
    event = {
        "modelHash": model_hash(),
        "featureSpecHash": spec_hash(),
        "fee": MIN_FEE,
        "rule": RULE_NOT_BEFORE,
        "blockNumber": HEAD - 10,
    }
    event.update(change)
    return event


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"modelHash": b"\x01" * 32}, "unknown model 0x0101"),
        ({"featureSpecHash": b"\x02" * 32}, "feature spec 0x0202"),
        ({"fee": MIN_FEE - 1}, f"fee {MIN_FEE - 1} wei is below the minimum {MIN_FEE}"),
        ({"rule": RULE_EXACT, "blockNumber": 0}, "not scorable at block 0"),
        ({"blockNumber": HEAD - 1}, f"is above the source chain's head {HEAD}"),
        ({"rule": RULE_EXACT, "blockNumber": HEAD - 3 - MAX_EXACT_AGE}, "too old to anchor"),
    ],
)
def test_refused_with_reason(listener: Listener, change: dict[str, Any], reason: str) -> None:
    got = listener.refusal(_event(**change), HEAD)
    assert got is not None and reason in got


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"fee": MIN_FEE * 10},
        {"rule": RULE_EXACT, "blockNumber": HEAD - 2},  # + 2 ancestors = the head
        {"rule": RULE_EXACT, "blockNumber": HEAD - 2 - MAX_EXACT_AGE},
        {"rule": RULE_NOT_BEFORE, "blockNumber": 0},  # any block from 0 on
    ],
)
def test_served(listener: Listener, change: dict[str, Any]) -> None:
    assert listener.refusal(_event(**change), HEAD) is None
