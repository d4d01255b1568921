"""Property tests: the numpy batch path equals the scalar reference on random valid
models and inputs (including int32 extremes), and a random valid model survives
the JSON round trip with its hash."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprocessor.scoring.models import batch, reference
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.model import Clip, Dense, Layer, Model, Relu, Sigmoid, ToBps

I32 = st.integers(-(2**31), 2**31 - 1)
# inputs: int32 extremes and values near the sigmoid table and rounding boundaries
INPUT = st.one_of(
    I32, st.integers(-600_000, 600_000), st.sampled_from([-(2**31), 2**31 - 1, 0, -524288])
)


@st.composite
def dense_layer(draw: st.DrawFn, n_in: int) -> Dense:
    n_out = draw(st.integers(1, 5))
    rows = []
    for _ in range(n_out):
        budget = 2**31 - 1  # keep sum |w| within the accumulator bound
        row = []
        for _ in range(n_in):
            scale = draw(st.sampled_from([2**8, 2**17, 2**24, budget]))
            w = draw(st.integers(-min(scale, budget), min(scale, budget)))
            budget -= abs(w)
            row.append(w)
        rows.append(tuple(row))
    bias = tuple(draw(I32) for _ in range(n_out))
    return Dense(tuple(rows), bias)


@st.composite
def models(draw: st.DrawFn) -> Model:
    dim = draw(st.integers(1, 6))
    width = dim
    layers: list[Layer] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["dense", "relu", "sigmoid", "clip"]))
        if kind == "dense":
            layer = draw(dense_layer(width))
            width = layer.n_out
            layers.append(layer)
        elif kind == "clip":
            a, b = draw(I32), draw(I32)
            layers.append(Clip(min(a, b), max(a, b)))
        else:
            layers.append(Relu() if kind == "relu" else Sigmoid())
    if width != 1:
        head = draw(dense_layer(width))  # keep one output row to end at width 1
        layers.append(Dense(head.weights[:1], head.bias[:1]))
    layers.append(ToBps())
    return Model(input_dim=dim, layers=tuple(layers))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batch_equals_reference(data: st.DataObject) -> None:
    model = data.draw(models())
    rows = data.draw(
        st.lists(
            st.lists(INPUT, min_size=model.input_dim, max_size=model.input_dim),
            min_size=1,
            max_size=8,
        )
    )
    traces = batch.trace(model, np.array(rows, dtype=np.int64))
    for r, row in enumerate(rows):
        expected = reference.trace(model, row)
        got = [layer_out[r].tolist() for layer_out in traces]
        assert got == expected


@settings(max_examples=100, deadline=None)
@given(model=models())
def test_json_roundtrip_keeps_hash(model: Model) -> None:
    again = fmt.from_json(json.loads(fmt.dumps(model)))
    assert again == model
    assert again.canonical_bytes() == model.canonical_bytes()
    assert 0 <= reference.score(model, [0] * model.input_dim) <= 10_000
