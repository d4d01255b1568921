"""The models a service instance serves: every ``<name>.json`` model file in the models
directory that has a ``<name>.features.json`` feature spec beside it. Loaded once at
start; a request names a model by ``name`` or by its hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json
from coprocessor.scoring import features
from coprocessor.scoring.models import model as fmt
from coprocessor.scoring.models.model import Model


@dataclass(frozen=True)
class ServedModel:
    """A model and its feature spec, both validated, with their hashes and the files they
    were loaded from (what the prover reads)."""

    name: str
    model: Model
    spec: features.Spec
    model_hash: bytes
    spec_hash: bytes
    model_path: Path
    spec_path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model_hash": "0x" + self.model_hash.hex(),
            "feature_spec_hash": "0x" + self.spec_hash.hex(),
            "input_dim": self.model.input_dim,
            "features": list(self.spec.names),
        }


class Catalog:
    """Models by name and by hash (lowercase 0x-hex)."""

    def __init__(self, models: list[ServedModel]) -> None:
        self.models = sorted(models, key=lambda m: m.name)
        self._by_key: dict[str, ServedModel] = {}
        for m in self.models:
            self._by_key[m.name] = m
            self._by_key["0x" + m.model_hash.hex()] = m

    def get(self, key: str) -> ServedModel | None:
        return self._by_key.get(key if not key.startswith("0x") else key.lower())

    def to_json(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in self.models]


def _is_model_file(path: Path) -> bool:
    try:
        obj = load_json(path, "model")
    except UserInputError:
        return False
    return isinstance(obj, dict) and obj.get("format") == "coproc-model"


def load_catalog(directory: str | Path) -> Catalog:
    """Load every model with a spec in ``directory``; a model whose spec does not fit
    (width, or a ``meta.feature_spec_hash`` that differs) is a configuration error."""
    root = Path(directory)
    if not root.is_dir():
        raise UserInputError(f"models directory {root} does not exist")
    served = []
    for path in sorted(root.glob("*.json")):
        if path.name.endswith(".features.json") or not _is_model_file(path):
            continue
        name = path.name.removesuffix(".json")
        spec_path = root / f"{name}.features.json"
        if not spec_path.is_file():
            continue
        m = fmt.load(path)
        spec = features.load(spec_path)
        if len(spec.features) != m.input_dim:
            raise UserInputError(
                f"model {name}: input_dim {m.input_dim} but the spec has "
                f"{len(spec.features)} features"
            )
        spec_hash = features.spec_hash(spec)
        declared = m.meta.get("feature_spec_hash") if isinstance(m.meta, dict) else None
        if declared is not None and declared != "0x" + spec_hash.hex():
            raise UserInputError(f"model {name}: meta.feature_spec_hash differs from the spec's")
        served.append(ServedModel(name, m, spec, m.hash(), spec_hash, path, spec_path))
    return Catalog(served)
