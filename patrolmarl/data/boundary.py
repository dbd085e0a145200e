"""Precinct polygons from a boundary GeoJSON, and each grid cell's precinct by largest overlap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from patrolmarl.data.geojson import geometry_of, read_features
from patrolmarl.data.grid import Grid
from patrolmarl.data.projection import LocalProjection
from patrolmarl.errors import PatrolMarlError

FLAG = "--boundary"


@dataclass(frozen=True)
class Boundary:
    """Named precinct polygons (shapely, WGS84 lon/lat), in file order."""

    names: tuple[str, ...]
    polygons: tuple  # shapely Polygon | MultiPolygon, one per name

    def bounds(self) -> tuple[float, float, float, float]:
        """``(lon_min, lat_min, lon_max, lat_max)`` of all polygons."""
        import shapely

        return tuple(float(v) for v in shapely.total_bounds(np.array(self.polygons)))

    def local(self, projection: LocalProjection) -> list:
        """The polygons in local metres of ``projection``."""
        import shapely

        return [
            shapely.transform(p, lambda xy: np.stack(projection.to_metres(*xy.T), axis=1))
            for p in self.polygons
        ]


def read_boundary(path: Path, name_field: str) -> Boundary:
    """Precinct polygons named by the property ``name_field``; features of one name are merged.

    Raises
    ------
    PatrolMarlError
        If a feature is not a (Multi)Polygon, lacks the name property, or has no area.
    """
    import shapely

    features = read_features(path, FLAG)
    by_name: dict[str, list] = {}
    for i, feature in enumerate(features):
        where = f"{FLAG} {path}: feature {i}"
        kind = feature["geometry"].get("type")
        if kind not in ("Polygon", "MultiPolygon"):
            raise PatrolMarlError(f"{where} is a {kind}, not a Polygon or MultiPolygon")
        props = feature.get("properties") or {}
        if name_field not in props or props[name_field] in (None, ""):
            known = ", ".join(sorted(map(str, props))) or "none"
            raise PatrolMarlError(
                f"{where} has no property {name_field!r} (its properties: {known}); "
                "name the precinct property with --precinct-field"
            )
        geometry = shapely.make_valid(geometry_of(feature, where))
        if geometry.area <= 0:
            raise PatrolMarlError(f"{where}: the polygon has no area")
        by_name.setdefault(str(props[name_field]), []).append(geometry)
    names = tuple(by_name)
    return Boundary(names, tuple(shapely.union_all(parts) for parts in by_name.values()))


def precinct_of_cells(grid: Grid, boundary: Boundary) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's precinct (index into ``boundary.names``) and whether it overlaps any polygon.

    A cell takes the precinct it overlaps most (ties: the first in the file); a
    cell outside every polygon takes the precinct of the nearest overlapping cell.
    """
    import shapely

    cells = shapely.box(*grid.cell_bounds().T)
    overlap = np.stack(
        [shapely.area(shapely.intersection(cells, p)) for p in boundary.local(grid.projection)]
    )
    inside = overlap.max(axis=0) > 0
    precinct = overlap.argmax(axis=0)
    if not inside.all():
        _, (r, c) = ndimage.distance_transform_edt(
            ~inside.reshape(grid.rows, grid.cols), return_indices=True
        )
        precinct = precinct.reshape(grid.rows, grid.cols)[r, c].ravel()
    return precinct.astype(np.int64), inside


def inside_mask(x: np.ndarray, y: np.ndarray, grid: Grid, boundary: Boundary) -> np.ndarray:
    """Whether each local position lies inside the union of the precinct polygons."""
    import shapely

    area = shapely.union_all(boundary.local(grid.projection))
    shapely.prepare(area)
    return shapely.contains_xy(area, x, y)
