"""One scoring request end to end, the twin of the guest's ``request::run``
(guest/core/src/request.rs): a verified bundle, a feature spec, a model, a subject and a
request block give the feature vector, the score and the journal fields. The CLI
(``coproc features``), the service's scoring stage and the tests go through here, so the
sequence is written once; tests keep it equal to the Rust core on the vectors.

Verification goes through the native verifier (the guest's Rust core) when it is
installed, the Python reference otherwise (:mod:`coprocessor.chain.native`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import Bundle, VerifiedBundle
from coprocessor.chain.bundle_v2 import BundleV2, load_any_bundle, verify_bundle_v2
from coprocessor.chain.native import verify_bundle_native
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.scoring import features
from coprocessor.scoring.models import reference
from coprocessor.scoring.models.model import Model

#: journal v1 version (spec/journal_v1.json)
JOURNAL_VERSION = 1


@dataclass(frozen=True)
class Scored:
    """What a request yields: the features, the score, and every journal field but the
    request id (which names the request, not its result)."""

    features: features.FeatureVector
    score: int
    chain_id: int
    anchor_number: int
    anchor_hash: bytes
    #: the request block B
    block: int
    #: the subject, lowercase 0x-hex
    subject: str
    model_hash: bytes
    spec_hash: bytes

    def journal_fields(self, request_id: bytes) -> dict[str, Any]:
        """Journal v1 by field name (what ``coprocessor.zk.journal.encode`` takes)."""
        return {
            "version": JOURNAL_VERSION,
            "chainId": self.chain_id,
            "anchorNumber": self.anchor_number,
            "anchorHash": self.anchor_hash,
            "blockNumber": self.block,
            "subject": self.subject,
            "modelHash": self.model_hash,
            "featureSpecHash": self.spec_hash,
            "score": self.score,
            "requestId": request_id,
        }


def verify(bundle: Bundle) -> VerifiedBundle:
    """Every rule of bundle v1, by the native verifier when installed."""
    return verify_bundle_native(bundle)


def verify_file(path: str | Path) -> VerifiedBundle:
    """Read, parse and verify a bundle file of either version (a v2 by the Python
    reference, ``bundle_v2.verify_bundle_v2``)."""
    bundle = load_any_bundle(path)
    if isinstance(bundle, BundleV2):
        return verify_bundle_v2(bundle)
    return verify(bundle)


def request_block(verified: VerifiedBundle, block: int | None) -> int:
    """The request block (default: the anchor); it must lie within the bundle's headers,
    as the guest requires."""
    anchor = verified.anchor.number
    if block is None:
        return anchor
    first = verified.headers[0].number
    if not first <= block <= anchor:
        raise VerificationError(
            f"bundle: request block {block} is outside the bundle's headers {first}..={anchor}",
            rule="request_block",
        )
    return block


def feature_vector(
    verified: VerifiedBundle, spec: features.Spec, subject: str, block: int | None = None
) -> features.FeatureVector:
    """The Q16 feature vector of ``subject`` at request block ``block``."""
    b = request_block(verified, block)
    return features.compute_bundle(spec, verified, subject, b)


def run(
    verified: VerifiedBundle,
    spec: features.Spec,
    model: Model,
    subject: str,
    block: int | None = None,
) -> Scored:
    """Features, score and journal fields of one request (``request::run``)."""
    vector = feature_vector(verified, spec, subject, block)
    if len(vector.values) != model.input_dim:
        raise UserInputError(
            f"feature spec: the spec yields {len(vector.values)} features, "
            f"the model takes {model.input_dim}",
            rule="feature_count",
        )
    anchor = verified.anchor
    return Scored(
        features=vector,
        score=reference.score(model, vector.values),
        chain_id=verified.bundle.chain_id,
        anchor_number=anchor.number,
        anchor_hash=anchor.hash,
        block=vector.block,
        subject=vector.subject,
        model_hash=model.hash(),
        spec_hash=features.spec_hash(spec),
    )


__all__ = [
    "Scored",
    "feature_vector",
    "request_block",
    "run",
    "verify",
    "verify_file",
]
