"""Fuzz of the file formats with a fixed seed and a bounded count: real bundle,
model and spec files mutated by the hostile classes of issue #20 (deep nesting,
huge numbers, oversized strings, duplicate keys, byte flips and cuts), each read
and checked the way the CLI does. Every outcome is a value or a CoprocessorError
(the CLI's one-line error); any other exception fails the test.

``COPROC_FUZZ_COUNT`` raises the count per format for a longer run
(docs/threat_model.md records one)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coprocessor.chain.bundle import load_bundle, verify_bundle
from coprocessor.errors import CoprocessorError
from coprocessor.scoring import features
from coprocessor.scoring.models import model as model_format

ROOT = Path(__file__).resolve().parent.parent.parent
BUNDLE = ROOT / "tests" / "vectors" / "features" / "lending_bundle.json"
COUNT = int(os.environ.get("COPROC_FUZZ_COUNT", "150"))


def _bundle_text() -> str:
    return json.dumps(json.loads(BUNDLE.read_text())["bundle"], indent=1)


FORMATS: dict[str, tuple[Callable[[], str], Callable[[Path], Any]]] = {
    "bundle": (_bundle_text, lambda p: verify_bundle(load_bundle(p))),
    "model": (lambda: (ROOT / "models" / "lending-risk-v1.json").read_text(), model_format.load),
    "spec": (
        lambda: (ROOT / "models" / "lending-risk-v1.features.json").read_text(),
        features.load,
    ),
}


def _value_span(text: str, rng: random.Random) -> tuple[int, int]:
    """A random token boundary region: from one structural character to the next."""
    marks = [i for i, c in enumerate(text) if c in ",:[]{}"]
    a = rng.randrange(len(marks) - 1)
    return marks[a] + 1, marks[a + 1]


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:  # deep nesting in place of a value
        a, b = _value_span(text, rng)
        depth = rng.choice([65, 1_000, 50_000])
        return text[:a] + "[" * depth + "]" * depth + text[b:]
    if kind == 1:  # a huge number in place of a value
        a, b = _value_span(text, rng)
        return text[:a] + rng.choice(["-", ""]) + "9" * rng.choice([78, 79, 5001]) + text[b:]
    if kind == 2:  # an oversized string in place of a value
        a, b = _value_span(text, rng)
        return text[:a] + '"0x' + "ab" * rng.choice([10_000, 300_000]) + '"' + text[b:]
    if kind == 3:  # a key written twice
        keys = [i for i in range(len(text)) if text.startswith('": ', i)]
        end = rng.choice(keys)
        start = text.rindex('"', 0, end)
        key = text[start : end + 1]
        return text[: end + 3] + "1, " + key + ": " + text[end + 3 :]
    if kind == 4:  # a few bytes flipped
        chars = list(text)
        for _ in range(rng.randrange(1, 4)):
            chars[rng.randrange(len(chars))] = chr(rng.randrange(32, 127))
        return "".join(chars)
    if kind == 5:  # cut short
        return text[: rng.randrange(len(text))]
    if kind == 6:  # NaN or a float in place of a value
        a, b = _value_span(text, rng)
        return text[:a] + rng.choice(["NaN", "Infinity", "1.5", "1e400"]) + text[b:]
    a, b = _value_span(text, rng)  # another JSON type in place of a value
    return text[:a] + rng.choice(["null", "true", "{}", "[]", '""', "[[[]]]", "-1"]) + text[b:]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_mutated_files_only_ever_raise_project_errors(tmp_path: Path, name: str) -> None:
    original, read = FORMATS[name]
    text = original()
    read_path = tmp_path / f"{name}.json"
    read_path.write_text(text)
    read(read_path)  # the unmutated file reads: the harness itself works
    rng = random.Random(f"issue-20-{name}")
    rejected = 0
    for i in range(COUNT):
        mutated = mutate(text, rng)
        read_path.write_text(mutated)
        try:
            read(read_path)
        except CoprocessorError as exc:
            rejected += 1
            assert "\n" not in str(exc), (i, str(exc)[:300])
        except Exception as exc:  # the point: nothing else may escape
            raise AssertionError(f"mutation {i}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    assert rejected >= COUNT // 2, rejected  # mutations almost always break a rule
