"""Deterministic fixed-point models (format v1, docs/formats.md §2).

- :mod:`.fixedpoint`, :mod:`.sigmoid`: the integer primitives;
- :mod:`.model`: the format (load, validate, canonical bytes, hash);
- :mod:`.reference`: scalar inference, the specification;
- :mod:`.batch`: vectorized numpy inference, bit-identical to the reference;
- :mod:`.floatmodel`, :mod:`.onnx_import`: float models from JSON weights or ONNX;
- :mod:`.quantize`: float → Q16 with a calibration report.
"""

from coprocessor.scoring.models.model import Model, from_json, load

__all__ = ["Model", "from_json", "load"]
