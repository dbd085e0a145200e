"""The district's grid over a place: its origin, shape and cap, and the cell of each position."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patrolmarl.data.projection import LocalProjection
from patrolmarl.envs.config import MAX_GRID_CELLS
from patrolmarl.errors import PatrolMarlError


@dataclass(frozen=True)
class Grid:
    """``rows x cols`` square cells of ``cell_size_m`` from the north-west corner ``projection``."""

    projection: LocalProjection
    cell_size_m: float
    rows: int
    cols: int

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.rows * self.cols

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Row-major cell of each local position (metres), -1 off the grid."""
        row = np.floor(-np.asarray(y) / self.cell_size_m)
        col = np.floor(np.asarray(x) / self.cell_size_m)
        inside = (row >= 0) & (row < self.rows) & (col >= 0) & (col < self.cols)
        cell = np.full(row.shape, -1, dtype=np.int64)
        cell[inside] = (row[inside] * self.cols + col[inside]).astype(np.int64)
        return cell

    def cell_bounds(self) -> np.ndarray:
        """``(C, 4)`` local ``(xmin, ymin, xmax, ymax)`` of each cell, row-major."""
        r, c = np.divmod(np.arange(self.n_cells), self.cols)
        s = self.cell_size_m
        return np.stack([c * s, -(r + 1) * s, (c + 1) * s, -r * s], axis=1).astype(float)


def grid_over(
    lon_min: float,
    lat_min: float,
    lon_max: float,
    lat_max: float,
    cell_size_m: float,
    margin_m: float,
) -> Grid:
    """The grid covering a WGS84 box widened by ``margin_m`` on every side.

    Raises
    ------
    PatrolMarlError
        If the grid would have more than :data:`MAX_GRID_CELLS` cells (naming both).
    """
    if not (math.isfinite(cell_size_m) and cell_size_m > 0):
        raise PatrolMarlError(
            f"--cell-size: must be a positive number of metres, got {cell_size_m}"
        )
    corner = LocalProjection(lat_max, lon_min)
    lon0, lat0 = corner.to_lonlat(np.array(-margin_m), np.array(margin_m))
    projection = LocalProjection(float(lat0), float(lon0))
    x, y = projection.to_metres(np.array([lon_max]), np.array([lat_min]))
    width, height = float(x[0]) + margin_m, -float(y[0]) + margin_m
    rows, cols = _cells_across(height, cell_size_m), _cells_across(width, cell_size_m)
    if rows * cols > MAX_GRID_CELLS:
        fits = math.ceil(math.sqrt(width * height / MAX_GRID_CELLS) / 10.0) * 10
        while _cells_across(height, fits) * _cells_across(width, fits) > MAX_GRID_CELLS:
            fits += 10
        raise PatrolMarlError(
            f"--cell-size {cell_size_m:g}: the area needs a {rows} x {cols} grid "
            f"({rows * cols:,} cells), more than the limit of {MAX_GRID_CELLS:,} cells; "
            f"use --cell-size {fits} or more, or a smaller boundary"
        )
    return Grid(projection, float(cell_size_m), rows, cols)


def _cells_across(length_m: float, cell_size_m: float) -> int:
    """Whole cells covering a length; a length over a whole number by under 0.1 % of a cell
    (rounding of coordinates in the files) does not add a cell."""
    return max(1, math.ceil(length_m / cell_size_m - 1e-3))
