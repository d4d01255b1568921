"""Reading model inputs from CSV files and JSON lists."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coprocessor.errors import UserInputError
from coprocessor.scoring.models.floatmodel import F64

LABEL_COLUMN = "label"


@dataclass(frozen=True)
class Table:
    """Rows of real inputs; ``labels`` when the CSV has a ``label`` column."""

    columns: tuple[str, ...] | None
    rows: F64
    labels: F64 | None


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value


def read_csv(path: str | Path) -> Table:
    """A CSV of numbers; an optional header row names the columns, and a column
    named ``label`` holds 0/1 labels instead of an input."""
    try:
        with open(path, newline="") as fh:
            raw = [row for row in csv.reader(fh) if row and any(c.strip() for c in row)]
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: not a CSV file ({exc})") from None
    if not raw:
        raise UserInputError(f"{path}: no rows")
    columns: tuple[str, ...] | None = None
    if any(_number(c) is None for c in raw[0]):
        columns = tuple(c.strip() for c in raw[0])
        raw = raw[1:]
        if not raw:
            raise UserInputError(f"{path}: a header but no rows")
    width = len(raw[0])
    values = np.empty((len(raw), width), dtype=np.float64)
    for r, row in enumerate(raw):
        line = r + (2 if columns else 1)
        if len(row) != width:
            raise UserInputError(f"{path}:{line}: {len(row)} values, expected {width}")
        for c, cell in enumerate(row):
            v = _number(cell)
            if v is None or not math.isfinite(v):
                raise UserInputError(f"{path}:{line}: not a finite number: {cell!r:.40}")
            values[r, c] = v
    labels = None
    if columns is not None and LABEL_COLUMN in columns:
        if len(columns) != width:
            raise UserInputError(f"{path}: the header has {len(columns)} names for {width} values")
        idx = columns.index(LABEL_COLUMN)
        labels = values[:, idx].copy()
        if not np.isin(labels, (0.0, 1.0)).all():
            raise UserInputError(f"{path}: labels must be 0 or 1")
        values = np.delete(values, idx, axis=1)
        columns = columns[:idx] + columns[idx + 1 :]
    return Table(columns, values, labels)


def parse_vector(text: str) -> list[float | int]:
    """A JSON list of numbers (``--input``)."""
    try:
        obj = json.loads(text, parse_constant=lambda c: float("nan"))
    except ValueError:
        raise UserInputError(f"input is not a JSON list of numbers: {text!r:.60}") from None
    if not isinstance(obj, list) or not obj:
        raise UserInputError("input must be a non-empty JSON list of numbers")
    for i, v in enumerate(obj):
        if type(v) not in (int, float) or not math.isfinite(v):
            raise UserInputError(f"input[{i}] is not a finite number: {v!r:.40}")
    return obj
