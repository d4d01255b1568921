"""What the indexer must fetch for a feature spec: its reads grouped by block."""

from __future__ import annotations

from coprocessor.chain.slots import slot_bytes
from coprocessor.index.indexer import Read
from coprocessor.scoring.features import Spec, required_reads


def reads_for_spec(spec: Spec, subject: str, block: int) -> dict[int, list[Read]]:
    """Group a feature spec's required reads by block (accounts with their slots)."""
    grouped: dict[int, dict[bytes, list[bytes]]] = {}
    for item in required_reads(spec, subject, block):
        address = bytes.fromhex(item.address[2:])
        slots = grouped.setdefault(item.block, {}).setdefault(address, [])
        if item.slot is not None and slot_bytes(item.slot) not in slots:
            slots.append(slot_bytes(item.slot))
    return {
        number: [Read(address, tuple(slots)) for address, slots in accounts.items()]
        for number, accounts in grouped.items()
    }
