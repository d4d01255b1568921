"""Aave v3 markets on public chains from the kept address book (npm
``@bgd-labs/aave-address-book``, installed by setup, read from its ``dist/<Market>.js``):
chain id and PoolAddressesProvider, the entry point of :func:`aave_v3.read_account`.

Reading a real market needs an archive RPC of that chain. The deployed Pools there are
later Aave versions than the layout these reads support; the revision check of
:func:`aave_v3.read_account` refuses them by name rather than misreading them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from coprocessor.errors import UserInputError
from coprocessor.paths import REPO_ROOT

BOOK_DIR = REPO_ROOT / "tools" / "npm" / "node_modules" / "@bgd-labs" / "aave-address-book"
#: the markets this project names (address-book module names)
MARKETS = ("AaveV3Ethereum", "AaveV3Arbitrum")


@dataclass(frozen=True)
class AaveMarketEntry:
    """One market of the address book."""

    name: str
    chain_id: int
    provider: bytes
    pool: bytes
    oracle: bytes


def _constant(text: str, name: str, market: str) -> str:
    match = re.search(rf"\bvar {name} = ([^;]+);", text)
    if match is None:
        raise UserInputError(f"address book {market}: no {name}")
    return match.group(1).strip().strip('"')


def _address(text: str, name: str, market: str) -> bytes:
    value = _constant(text, name, market)
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise UserInputError(f"address book {market}: {name} is not an address ({value!r})")
    return bytes.fromhex(value[2:])


def aave_v3_market(name: str) -> AaveMarketEntry:
    """The named market (``AaveV3Ethereum``, ``AaveV3Arbitrum``)."""
    if name not in MARKETS:
        raise UserInputError(f"unknown Aave market {name!r}: one of {', '.join(MARKETS)}")
    path = BOOK_DIR / "dist" / f"{name}.js"
    try:
        text = path.read_text()
    except OSError:
        raise UserInputError(
            f"address book not installed ({path.name} missing): run `make setup`"
        ) from None
    chain = _constant(text, "CHAIN_ID", name)
    if not chain.isdigit():
        raise UserInputError(f"address book {name}: CHAIN_ID is not a number ({chain!r})")
    return AaveMarketEntry(
        name,
        int(chain),
        _address(text, "POOL_ADDRESSES_PROVIDER", name),
        _address(text, "POOL", name),
        _address(text, "ORACLE", name),
    )
