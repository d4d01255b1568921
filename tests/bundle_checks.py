"""Checks shared by the tests of the native builder and verifier."""

from __future__ import annotations

import random
from typing import Any

import pytest
from json_paths import hex_strings, replaced

from coprocessor.chain import native
from coprocessor.chain.bundle import VerifiedBundle, verify_bundle
from coprocessor.chain.keccak import keccak256
from coprocessor.errors import CoprocessorError


def same_verified(a: VerifiedBundle, b: VerifiedBundle) -> None:
    """Two verified bundles are the same bundle, headers, node hashes and values."""
    assert a.bundle == b.bundle
    assert a.bundle.to_json() == b.bundle.to_json()
    assert a.headers == b.headers
    assert a.node_hashes == b.node_hashes
    assert list(a.node_hashes) == [keccak256(n) for n in a.bundle.nodes]
    assert a.to_json() == b.to_json()


def refuse_native_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the Rust core's ``verify_parts`` reject every bundle ("refused for the
    test"), everything else of the extension unchanged."""
    mod = native.module()
    assert mod is not None
    refusal = mod.VerifyError("bundle: refused for the test")

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(mod, name)

        def verify_parts(self, *args: Any) -> None:
            raise refusal

    monkeypatch.setattr(native, "_module", Refusing())


def single_hex_changes_rejected(obj: Any, seed: int, tries: int = 300) -> None:
    """``verify_bundle`` rejects each of ``tries`` random single-character changes of a
    hex string of the bundle JSON ``obj`` (a hex digit after the ``0x``, changed to
    another one)."""
    strings = list(hex_strings(obj))
    rng = random.Random(seed)
    for _ in range(tries):
        path, text = rng.choice(strings)
        pos = rng.randrange(2, len(text))
        new = rng.choice([c for c in "0123456789abcdef" if c != text[pos]])
        mutated = replaced(obj, path, text[:pos] + new + text[pos + 1 :])
        try:
            verify_bundle(mutated)
        except CoprocessorError:
            continue
        raise AssertionError(f"change at {path}[{pos}] was accepted")
