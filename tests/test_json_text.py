"""Strict JSON of results: NaN and infinities as null, numpy values as plain ones."""

from __future__ import annotations

import json

import numpy as np

from patrolmarl.json_text import json_ready, json_text


def test_non_finite_numbers_become_null_and_numpy_values_plain():
    value = {
        1: (float("nan"), np.float64(np.inf), -float("inf")),
        "a": np.array([1.5, np.nan]),
        "b": [np.int64(3), {"c": np.bool_(True)}],
    }
    assert json_ready(value) == {"1": [None, None, None], "a": [1.5, None], "b": [3, {"c": True}]}
    text = json_text(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == json_ready(value)
