"""RLP decoding with bounded nesting.

pyrlp decodes nested lists recursively, so input nested deeply enough (200 KB of
``0xcd`` is 15,000 lists deep) ran Python out of stack. No RLP this project reads
nests deeper than a few lists (a header or an account is one flat list; a trie node
is a list whose inlined children, each under 32 bytes, are lists again), so nesting
is measured first, without recursion, and anything deeper than :data:`MAX_DEPTH`
is refused before the decoder sees it.
"""

from __future__ import annotations

from typing import Any

import rlp

from coprocessor.errors import VerificationError

#: the deepest list nesting accepted (an inlined node is under 32 bytes, so it holds
#: at most a few levels; 16 leaves room and stays far from any stack limit)
MAX_DEPTH = 16


def nesting(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep lists nest in ``raw``, counted up to ``limit + 1`` (then it stops).
    Lengths are trusted only as far as the bytes go: malformed input gives some
    number, and the strict decoder then reports what is wrong with it."""
    ends: list[int] = []  # where each open list ends
    i, size, deepest = 0, len(raw), 0
    while i < size:
        while ends and i >= ends[-1]:
            ends.pop()
        prefix = raw[i]
        if prefix < 0x80:
            i += 1
        elif prefix < 0xB8:
            i += 1 + prefix - 0x80
        elif prefix < 0xC0:
            width = prefix - 0xB7
            i += 1 + width + int.from_bytes(raw[i + 1 : i + 1 + width], "big")
        else:
            if prefix < 0xF8:
                start, length = i + 1, prefix - 0xC0
            else:
                width = prefix - 0xF7
                start = i + 1 + width
                length = int.from_bytes(raw[i + 1 : start], "big")
            ends.append(start + length)
            deepest = max(deepest, len(ends))
            if deepest > limit:
                break
            i = start
    return deepest


def decode_bounded(raw: bytes, where: str, *, strict: bool = True) -> Any:
    """``rlp.decode(raw, strict=strict)`` once the nesting is within MAX_DEPTH
    (VerificationError, rule ``rlp_canonical``, otherwise). DecodingError passes
    through for the caller to name."""
    if nesting(raw) > MAX_DEPTH:
        raise VerificationError(
            f"{where}: RLP lists nested deeper than {MAX_DEPTH}", rule="rlp_canonical"
        )
    return rlp.decode(raw, strict=strict)


__all__ = ["MAX_DEPTH", "decode_bounded", "nesting"]
