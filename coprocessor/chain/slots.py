"""Solidity storage-slot derivation (the layout rules of the Solidity docs,
"Layout of State Variables in Storage").

Pure functions over Python ints; every result is a slot number mod 2**256.
"""

from __future__ import annotations

from eth_hash.auto import keccak

from coprocessor.errors import UserInputError

WORD = 2**256


def _pad32(value: int | bytes) -> bytes:
    """A mapping key or slot as the 32-byte word Solidity hashes."""
    if isinstance(value, bytes):
        if len(value) > 32:
            raise UserInputError(f"mapping key longer than 32 bytes ({len(value)})")
        return value.rjust(32, b"\x00")
    if not 0 <= value < WORD:
        # negative keys are hashed as their two's complement word (int256 keys)
        if -(2**255) <= value < 0:
            return (value % WORD).to_bytes(32, "big")
        raise UserInputError(f"mapping key out of range: {value}")
    return value.to_bytes(32, "big")


def slot_bytes(slot: int) -> bytes:
    """The 32-byte big-endian storage key of a slot number (what eth_getProof takes)."""
    return (slot % WORD).to_bytes(32, "big")


def mapping_slot(base: int, key: int | bytes) -> int:
    """Slot of ``mapping[key]`` for a mapping at ``base``: keccak256(pad32(key) ‖ pad32(base)).

    ``key`` is an integer (uint/int keys) or bytes (an address's 20 bytes, bytes32).
    """
    return int.from_bytes(keccak(_pad32(key) + _pad32(base)), "big")


def nested_mapping_slot(base: int, *keys: int | bytes) -> int:
    """Slot of ``mapping[k1][k2]...``: the mapping rule applied once per key."""
    slot = base
    for key in keys:
        slot = mapping_slot(slot, key)
    return slot


def array_data_slot(base: int) -> int:
    """First data slot of a dynamic array whose length lives at ``base``: keccak256(pad32(base))."""
    return int.from_bytes(keccak(_pad32(base)), "big")


def array_element_slot(base: int, index: int, elem_slots: int = 1) -> int:
    """Slot of element ``index`` of a dynamic array at ``base`` whose elements take
    ``elem_slots`` slots each (structs); for packed element types use
    :func:`packed_array_element`."""
    if index < 0 or elem_slots < 1:
        raise UserInputError("array index must be >= 0 and elem_slots >= 1")
    return (array_data_slot(base) + index * elem_slots) % WORD


def packed_array_element(base: int, index: int, elem_bytes: int) -> tuple[int, int]:
    """(slot, byte offset) of element ``index`` of a dynamic array of a type smaller
    than 32 bytes (several elements share one slot, low-order first)."""
    if not 1 <= elem_bytes <= 32:
        raise UserInputError("element size must be 1..32 bytes")
    per_slot = 32 // elem_bytes
    slot = (array_data_slot(base) + index // per_slot) % WORD
    return slot, (index % per_slot) * elem_bytes


def field_slot(base: int, member: int) -> int:
    """Slot of struct member (or fixed-array element) number ``member`` slots after ``base``."""
    return (base + member) % WORD


def extract_packed(word: int, offset: int, size: int, signed: bool = False) -> int:
    """Read the field of ``size`` bytes at byte ``offset`` (from the low-order end)
    of a storage word, as Solidity packs several small variables into one slot."""
    if offset < 0 or size < 1 or offset + size > 32:
        raise UserInputError(f"packed field out of the word: offset {offset}, size {size}")
    bits = size * 8
    value = (word >> (offset * 8)) & ((1 << bits) - 1)
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value
