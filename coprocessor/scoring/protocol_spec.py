"""Protocol reads in a feature spec (docs/formats.md §3c): ``{"kind": "protocol", ...}``
naming a protocol version (``aave-v3.0``, ``morpho-blue-1.0.0``), its entry
addresses and one field. Parsed here into :class:`AaveRead` / :class:`MorphoRead`
(exact key sets, lowercase hex, ``block_offset`` filled in); evaluated by
:mod:`coprocessor.scoring.protocol_values`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from coprocessor.scoring.spec_checks import fail, hex_bytes, integer, keys

KIND: Final = "protocol"
AAVE: Final = "aave-v3.0"
MORPHO: Final = "morpho-blue-1.0.0"
PROTOCOLS: Final = (AAVE, MORPHO)
#: Pool.getUserAccountData's values (and the user's eMode category)
AAVE_ACCOUNT_FIELDS: Final = (
    "total_collateral_base",
    "total_debt_base",
    "available_borrows_base",
    "liquidation_threshold",
    "ltv",
    "health_factor",
    "emode_category",
)
#: one reserve's values for the user (the read names the reserve by ``asset``)
AAVE_RESERVE_FIELDS: Final = ("a_token_balance", "variable_debt", "stable_debt", "price")
MORPHO_FIELDS: Final = (
    "supply_shares",
    "borrow_shares",
    "collateral",
    "supply_assets",
    "borrow_assets",
    "total_supply_assets",
    "total_borrow_assets",
    "oracle_price",
    "lltv",
    "max_borrow",
    "health_factor",
    "healthy",
)
MAX_BLOCK_OFFSET: Final = 2**32


@dataclass(frozen=True)
class AaveRead:
    """An ``aave-v3.0`` read of the subject in the market of ``provider``."""

    provider: str  # lowercase 0x-hex, 20 bytes
    field: str
    asset: str | None = None  # reserve fields only
    block_offset: int = 0
    protocol: str = AAVE

    @property
    def entry(self) -> tuple[str, ...]:
        """What one protocol read computes (features differing only by field share it)."""
        return (self.protocol, self.provider, self.asset or "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": KIND, "protocol": self.protocol, "provider": self.provider}
        out["field"] = self.field
        if self.asset is not None:
            out["asset"] = self.asset
        out["block_offset"] = self.block_offset
        return out


@dataclass(frozen=True)
class MorphoRead:
    """A ``morpho-blue-1.0.0`` read of the subject's position in market ``market_id``."""

    morpho: str  # lowercase 0x-hex, 20 bytes
    morpho_code_hash: str  # 32 bytes
    market_id: str  # 32 bytes
    irm_code_hash: str  # 32 bytes
    field: str
    block_offset: int = 0
    protocol: str = MORPHO

    @property
    def entry(self) -> tuple[str, ...]:
        """What one protocol read computes (features differing only by field share it)."""
        return (
            self.protocol,
            self.morpho,
            self.morpho_code_hash,
            self.market_id,
            self.irm_code_hash,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "protocol": self.protocol,
            "morpho": self.morpho,
            "morpho_code_hash": self.morpho_code_hash,
            "market_id": self.market_id,
            "irm_code_hash": self.irm_code_hash,
            "field": self.field,
            "block_offset": self.block_offset,
        }


ProtocolRead = AaveRead | MorphoRead


def is_protocol_read(raw: object) -> bool:
    """Whether a feature's ``read`` object is of kind ``protocol``."""
    return isinstance(raw, dict) and raw.get("kind") == KIND


def _field(raw: dict[str, Any], where: str, fields: tuple[str, ...]) -> str:
    value = raw["field"]
    if value not in fields:
        raise fail(
            where,
            f"read.field of {raw['protocol']} must be one of {', '.join(fields)}, "
            f"got {value!r:.40}",
            "protocol_field",
        )
    return str(value)


def _block_offset(raw: dict[str, Any], where: str) -> int:
    return integer(raw.get("block_offset", 0), f"{where} block_offset", 0, MAX_BLOCK_OFFSET)


def _aave(raw: dict[str, Any], where: str) -> AaveRead:
    raw = keys(raw, {"kind", "protocol", "provider", "field"}, {"block_offset", "asset"}, where)
    field = _field(raw, where, AAVE_ACCOUNT_FIELDS + AAVE_RESERVE_FIELDS)
    if (field in AAVE_RESERVE_FIELDS) != ("asset" in raw):
        wants = "needs" if field in AAVE_RESERVE_FIELDS else "takes no"
        raise fail(where, f"read.field {field} {wants} read.asset", "protocol_field")
    provider = hex_bytes(raw["provider"], f"{where} read.provider", 20, "protocol_param")
    asset = None
    if "asset" in raw:
        asset = hex_bytes(raw["asset"], f"{where} read.asset", 20, "protocol_param")
    return AaveRead(provider, field, asset, _block_offset(raw, where))


def _morpho(raw: dict[str, Any], where: str) -> MorphoRead:
    params = ("morpho", "morpho_code_hash", "market_id", "irm_code_hash")
    raw = keys(raw, {"kind", "protocol", "field", *params}, {"block_offset"}, where)
    field = _field(raw, where, MORPHO_FIELDS)
    morpho, code_hash, market_id, irm_code_hash = (
        hex_bytes(raw[k], f"{where} read.{k}", 20 if k == "morpho" else 32, "protocol_param")
        for k in params
    )
    return MorphoRead(morpho, code_hash, market_id, irm_code_hash, field, _block_offset(raw, where))


def parse_protocol_read(raw: dict[str, Any], where: str) -> ProtocolRead:
    """A feature's ``read`` of kind ``protocol``, checked in the documented order:
    protocol name, key set, field (and asset), hex parameters."""
    protocol = raw.get("protocol")
    if protocol not in PROTOCOLS:
        raise fail(
            where,
            f"read.protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r:.40}",
            "protocol_name",
        )
    return _aave(raw, where) if protocol == AAVE else _morpho(raw, where)


__all__ = [
    "AAVE",
    "AAVE_ACCOUNT_FIELDS",
    "AAVE_RESERVE_FIELDS",
    "MORPHO",
    "MORPHO_FIELDS",
    "AaveRead",
    "MorphoRead",
    "ProtocolRead",
    "is_protocol_read",
    "parse_protocol_read",
]
