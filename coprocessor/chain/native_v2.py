"""Bundle v2 and spec v2 series through the guest's Rust core (``coproc_native``).

``verify_bundle_v2_native`` runs ``coproc_core::bundle_v2::verify`` (what the guest
proves with) on bundle v2 JSON; ``series_aggregate_native`` runs
``coproc_core::series::aggregate``. Python (``bundle_v2.py``, ``scoring/series.py``)
stays the reference; tests keep them equal. A rejection carries the rule's code,
read back into the Python error's ``rule``.
"""

from __future__ import annotations

import json
from typing import Any

from coprocessor.chain.native import module
from coprocessor.errors import UserInputError, VerificationError, split_code


def _error(exc: Exception, mod: Any) -> Exception:
    rule, message = split_code(str(exc))
    kind = UserInputError if isinstance(exc, mod.InputError) else VerificationError
    return kind(message, rule=rule)


def native_module() -> Any:
    """The extension, or a clear error when it is not built (``make setup``)."""
    mod = module()
    if mod is None or not hasattr(mod, "verify_bundle_v2_json"):
        raise UserInputError("the native verifier (coproc_native with bundle v2) is not built")
    return mod


def verify_bundle_v2_native(data: bytes) -> dict[str, Any]:
    """Verify bundle v2 JSON text in Rust; the verified values (as
    ``verify_bundle_json``, plus ``hops``)."""
    mod = native_module()
    try:
        out = mod.verify_bundle_v2_json(data)
    except mod.NativeError as exc:
        raise _error(exc, mod) from None
    result: dict[str, Any] = json.loads(out)
    return result


def series_aggregate_native(op: str, samples: list[int], threshold: int = 0) -> int:
    """One spec v2 aggregate in Rust."""
    mod = native_module()
    try:
        return int(mod.series_aggregate(op, samples, threshold))
    except mod.NativeError as exc:
        raise _error(exc, mod) from None


__all__ = ["series_aggregate_native", "verify_bundle_v2_native"]
