"""The committed Rocky model and spec (models/rocky-direction-v1.*) are what
scripts/train_rocky.py pairs: the spec file is the scenario's spec, the model names its
hash, and the price level gets no weight."""

from __future__ import annotations

import json

from locations import REPO

from coprocessor.dev import rocky
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.model import Dense

MODELS = REPO / "models"


def test_the_spec_file_is_the_scenarios_spec() -> None:
    on_disk = json.loads((MODELS / f"{rocky.MODEL}.features.json").read_text())
    assert on_disk == rocky.direction_spec()
    spec = features.normalize(on_disk)
    assert spec.names == (
        "tick_now",
        "tick_mean",
        "tick_slope",
        "tick_change",
        "tick_stdev",
        "tick_vs_mean",
    )


def test_the_model_names_the_spec_and_ignores_the_level() -> None:
    model = fmt.load(MODELS / f"{rocky.MODEL}.json")
    spec = features.load(MODELS / f"{rocky.MODEL}.features.json")
    assert model.meta["feature_spec_hash"] == "0x" + features.spec_hash(spec).hex()
    assert model.input_dim == len(spec.names)
    dense = model.layers[0]
    assert isinstance(dense, Dense)
    weights = dict(zip(spec.names, dense.weights[0], strict=True))
    assert weights["tick_now"] == weights["tick_mean"] == 0
    assert sum(1 for w in weights.values() if w != 0) == 4


def test_the_tick_is_the_signed_int24_above_the_sqrt_price() -> None:
    """slot0 packing (v3-core Slot0): sqrtPriceX96 in bits 0..159, tick in 160..183."""
    for tick in (-887_272, -1, 0, 1, 196_840, 887_272):
        word = (tick % 2**24) << 160 | (2**160 - 1)
        assert rocky.tick_of_word(word | (0xFFFF << 184)) == tick
        assert rocky.slot0_word(tick, 2**160 - 1) == word
