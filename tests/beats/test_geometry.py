"""Cell sets as polygons: outlines cover exactly the cells, with RFC 7946 winding and holes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from patrolmarl.beats.geometry import cell_polygons, ring_area


def _inside(point: tuple[float, float], rings: list[np.ndarray]) -> bool:
    """Even-odd rule over all rings (lattice (row, col) coordinates)."""
    y, x = point
    inside = False
    for ring in rings:
        for (y0, x0), (y1, x1) in zip(ring[:-1], ring[1:], strict=True):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
    return inside


def test_polygons_cover_exactly_the_cells():
    rng = np.random.default_rng(3)
    for _ in range(300):
        mask = rng.random((rng.integers(1, 9), rng.integers(1, 9))) < rng.random()
        polygons = cell_polygons(mask)
        assert len(polygons) == ndimage.label(mask)[1]
        rings = [ring for polygon in polygons for ring in polygon]
        for polygon in polygons:
            assert ring_area(polygon[0]) > 0  # exterior counter-clockwise (north up)
            assert all(ring_area(h) < 0 for h in polygon[1:])  # holes clockwise
            for ring in polygon:
                assert (ring[0] == ring[-1]).all() and len(ring) >= 5
                corners = [tuple(p) for p in ring[:-1]]
                assert len(set(corners)) == len(corners)  # simple
        assert sum(ring_area(r) for r in rings) == pytest.approx(mask.sum())
        for r, c in np.ndindex(mask.shape):
            assert _inside((r + 0.5, c + 0.5), rings) == mask[r, c]


def test_a_ring_of_cells_has_a_hole():
    mask = np.ones((3, 3), dtype=bool)
    mask[1, 1] = False
    (polygon,) = cell_polygons(mask)
    assert len(polygon) == 2
    assert ring_area(polygon[0]) == 9 and ring_area(polygon[1]) == -1
