"""Cell sets as polygons: the dissolved outline of a set of grid cells, in map coordinates.

Outlines are traced on the grid's lattice of cell corners, ``(row, col)``
with row 0 at the north edge. Each 4-connected group of cells gives one
polygon: an exterior ring and a ring per hole. Boundary edges run with the
cells on their left (seen with north up), so exteriors are counter-clockwise
and holes clockwise, as GeoJSON (RFC 7946) asks. Cells touching only at a
corner are in separate polygons; rings of one polygon may touch at a corner.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from patrolmarl.data.projection import LocalProjection
from patrolmarl.envs.district import District

# A ring: (M, 2) lattice (row, col) corners, closed (first == last).
Ring = np.ndarray
Polygon = list[Ring]  # exterior first, then holes

# Steps (d_row, d_col) in counter-clockwise order seen with north up: E, N, W, S.
_DIRECTIONS = ((0, 1), (-1, 0), (0, -1), (1, 0))


def cell_polygons(mask: np.ndarray) -> list[Polygon]:
    """The outline of the ``(rows, cols)`` bool ``mask``: one polygon per 4-connected group.

    Groups are ordered by their first cell (row-major).
    """
    labels, count = ndimage.label(mask)
    polygons = []
    for group in range(1, count + 1):
        rings = _trace_rings(labels == group)
        rings.sort(key=ring_area, reverse=True)  # the exterior has the only positive area
        polygons.append(rings)
    return polygons


def ring_area(ring: Ring) -> float:
    """Signed area of a lattice ring in cells (positive: counter-clockwise with north up)."""
    x, y = ring[:, 1].astype(float), -ring[:, 0].astype(float)
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def to_map(ring: Ring, district: District) -> np.ndarray:
    """``(M, 2)`` map coordinates of a lattice ring.

    WGS84 ``(lon, lat)`` when the district config has an ``origin`` (the local
    equirectangular projection about it, :class:`~patrolmarl.data.projection.LocalProjection`),
    else metres ``(x east, y north)`` from the grid's north-west corner.
    """
    cell = district.config.cell_size_m
    x = ring[:, 1] * cell
    y = -ring[:, 0] * cell
    origin = district.config.origin
    if origin is None:
        return np.stack([x, y], axis=1).astype(float)
    lon, lat = LocalProjection(origin.lat, origin.lon).to_lonlat(x, y)
    return np.stack([lon, lat], axis=1)


def cell_centre_on_map(row: int, col: int, district: District) -> list[float]:
    """Map coordinates (as :func:`to_map`) of a cell's centre."""
    return to_map(np.array([[row + 0.5, col + 0.5]]), district)[0].tolist()


def cells_geometry(mask: np.ndarray, district: District, digits: int) -> dict:
    """GeoJSON (Multi)Polygon of the ``(rows, cols)`` bool ``mask`` in map coordinates."""
    polygons = [
        [np.round(to_map(ring, district), digits).tolist() for ring in polygon]
        for polygon in cell_polygons(mask)
    ]
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def _trace_rings(mask: np.ndarray) -> list[Ring]:
    """Closed boundary rings of one 4-connected ``mask``, cells on the left of every edge.

    At a corner where two rings touch, the trace turns right (keeps to the empty
    side), so every ring is simple and visits each corner once.
    """
    padded = np.pad(mask, 1)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}  # corner -> outgoing steps
    for r, c in zip(*np.nonzero(mask), strict=True):
        r, c = int(r), int(c)
        p, q = r + 1, c + 1  # the cell in padded coordinates
        sides = (
            (padded[p + 1, q], (r + 1, c), (0, 1)),  # south open: west to east
            (padded[p, q + 1], (r + 1, c + 1), (-1, 0)),  # east open: south to north
            (padded[p - 1, q], (r, c + 1), (0, -1)),  # north open: east to west
            (padded[p, q - 1], (r, c), (1, 0)),  # west open: north to south
        )
        for neighbour, corner, step in sides:
            if not neighbour:
                edges.setdefault(corner, []).append(step)
    rings = []
    while edges:
        # The least corner is a ring's top-left corner: a true corner to start from.
        start = corner = min(edges)
        points, heading = [start], None
        while True:
            options = edges[corner]
            step = options[0] if heading is None else _right_most(heading, options)
            options.remove(step)
            if not options:
                del edges[corner]
            corner = (corner[0] + step[0], corner[1] + step[1])
            if step == heading:
                points[-1] = corner  # straight on: no corner in between
            else:
                points.append(corner)
            heading = step
            if corner == start:
                break
        rings.append(np.array(points, dtype=np.int64))
    return rings


def _right_most(heading: tuple[int, int], options: list[tuple[int, int]]) -> tuple[int, int]:
    """The option turning most to the right of ``heading`` (right, straight, then left)."""
    i = _DIRECTIONS.index(heading)
    return min(options, key=lambda o: (_DIRECTIONS.index(o) - i + 1) % 4)
