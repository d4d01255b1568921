"""Checks shared by the tests of the native builder and verifier."""

from __future__ import annotations

from typing import Any

import pytest

from coprocessor.chain import native
from coprocessor.chain.bundle import VerifiedBundle
from coprocessor.chain.keccak import keccak256


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
