"""JSON text of results: NumPy values and paths made plain, NaN and infinities written as null (JSON has none).

Every wing that writes a JSON result (sweep summaries, table provenance, training summaries) and the
CLI use this one encoder, so a result reads the same wherever it was written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """`obj` with NumPy arrays and scalars turned into lists and numbers, paths into strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):  # e.g. the spread of a single run: no value
        return None
    return obj


def to_json(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False)
