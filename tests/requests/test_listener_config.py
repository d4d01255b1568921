"""``request_chains`` in the service config: bad entries are refused with a one-line
error naming the key; a good entry gets its defaults."""

from __future__ import annotations

from typing import Any

import pytest

from coprocessor.errors import UserInputError
from coprocessor.service.config import load_config
from coprocessor.service.listener import ChainSettings

GOOD = {"name": "l1", "requests": "0x" + "11" * 20}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**GOOD, "colour": 1}, "unknown key(s) colour"),
        ({**GOOD, "name": "l3"}, 'name must be "l1" or "l2"'),
        ({"name": "l1"}, "needs requests"),
        ({**GOOD, "confirmations": -1}, "confirmations must not be negative"),
        ({**GOOD, "confirmations": "2"}, "confirmations must be an integer"),
        ({**GOOD, "confirmations": True}, "confirmations must be an integer"),
        ({**GOOD, "poll_seconds": 0}, "poll_seconds must be positive"),
        ({**GOOD, "max_range": 0}, "max_range must be positive"),
        ("l1", "entries must be objects"),
    ],
)
def test_bad_entries_refused(entry: Any, message: str) -> None:
    with pytest.raises(UserInputError) as err:
        load_config(None, {"request_chains": [entry]})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_two_entries_with_one_name_refused() -> None:
    with pytest.raises(UserInputError, match="names must be different"):
        load_config(None, {"request_chains": [GOOD, dict(GOOD)]})


def test_defaults() -> None:
    cfg = load_config(None, {"request_chains": [GOOD], "rpc_url": "http://127.0.0.1:1"})
    chain = ChainSettings.of(cfg.request_chains[0], cfg.rpc_url)
    assert chain == ChainSettings(
        name="l1", rpc_url="http://127.0.0.1:1", requests=GOOD["requests"], confirmations=2,
        poll_seconds=1.0, start_block=0, min_fee_wei=0, max_range=1000,
    )  # fmt: skip
