"""JSON-path helpers shared by the mutation suites: walk every 0x-string of a JSON
value, and copy a value with one place replaced."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

Path_ = tuple[str | int, ...]


def hex_strings(obj: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """Every 0x-string of a JSON value with its path."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from hex_strings(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from hex_strings(value, (*path, i))
    elif isinstance(obj, str) and obj.startswith("0x"):
        yield path, obj


def replaced(obj: Any, path: Path_, value: Any) -> Any:
    """A deep copy of ``obj`` with the value at ``path`` replaced."""
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out
