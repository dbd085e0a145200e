"""The 20 unit colours are told apart: every pair differs clearly in CIELAB (unlike tab20)."""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from patrolmarl.evaluation.colours import DISTINCT_COLOURS, distinct_colour

MIN_DELTA_E = 25.0


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to CIELAB (D65)."""
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    x, y, z = xyz @ linear / np.array([0.95047, 1.0, 1.08883])

    def f(t: float) -> float:
        return np.cbrt(t) if t > 0.008856 else 7.787 * t + 16 / 116

    return np.array([116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))])


def _closest_pair(colours: list) -> float:
    labs = [_lab(np.asarray(c[:3])) for c in colours]
    return min(np.linalg.norm(a - b) for a, b in itertools.combinations(labs, 2))


def test_twenty_colours_are_distinct():
    colours = [distinct_colour(i) for i in range(20)]
    assert len({to_hex(c) for c in colours}) == 20 == len(DISTINCT_COLOURS)
    assert _closest_pair(colours) >= MIN_DELTA_E
    # The scheme it replaces (tab20, strong shades first) fails the same check.
    tab20 = [colormaps["tab20"](i) for i in [*range(0, 20, 2), *range(1, 20, 2)]]
    assert _closest_pair(tab20) < MIN_DELTA_E
    assert distinct_colour(20) == distinct_colour(0)
