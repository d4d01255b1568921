"""Aave v3 markets of Ethereum and Arbitrum One come from the kept address book: the
entries parse to the addresses Aave publishes for those markets (written here from
Aave's documentation, not from the package)."""

from __future__ import annotations

import pytest

from coprocessor.errors import UserInputError
from coprocessor.scoring.protocols.address_book import aave_v3_market

PUBLISHED = {
    "AaveV3Ethereum": (
        1,
        "0x2f39d218133afab8f2b819b1066c7e434ad94e9e",
        "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2",
    ),
    "AaveV3Arbitrum": (
        42161,
        "0xa97684ead0e402dc232d5a977953df7ecbab3cdb",
        "0x794a61358d6845594f94dc1db02a252b5b4814ad",
    ),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_markets_from_the_address_book(name: str) -> None:
    chain_id, provider, pool = PUBLISHED[name]
    entry = aave_v3_market(name)
    assert entry.chain_id == chain_id
    assert "0x" + entry.provider.hex() == provider
    assert "0x" + entry.pool.hex() == pool
    assert len(entry.oracle) == 20 and entry.oracle != bytes(20)


def test_unknown_market_is_refused() -> None:
    with pytest.raises(UserInputError, match="unknown Aave market"):
        aave_v3_market("AaveV3Moon")
