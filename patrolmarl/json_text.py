"""Strict JSON text of results: plain types only, NaN and infinities written as null."""

from __future__ import annotations

import json
import math

import numpy as np


def json_ready(obj: object) -> object:
    """Plain JSON types; NaN and infinities become None (written as null).

    Dict keys become strings, tuples lists, numpy arrays and scalars Python values.
    """
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        return json_ready(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_text(obj: object, indent: int | None = 2) -> str:
    """``obj`` as strict JSON (see :func:`json_ready`); never writes ``NaN`` or ``Infinity``."""
    return json.dumps(json_ready(obj), indent=indent, allow_nan=False)
