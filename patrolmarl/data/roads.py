"""Road speeds per cell from a local road file: GeoJSON lines or an OSM XML extract (no network).

Each road has a speed: a numeric ``maxspeed``/``speed``/``speed_kmh`` property
(km/h), else its class (``highway``/``class``/``fclass``) through
:data:`CLASS_SPEED_KMH`; footways and other roads closed to cars are left out.
A cell's speed is the length-weighted mean speed of the roads in it, or
:data:`NO_ROAD_KMH` where none passes. Speeds become land-use classes in
bands of :data:`BAND_KMH`, so the district file needs nothing new.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from patrolmarl.data.geojson import geometry_of, read_features
from patrolmarl.data.grid import Grid
from patrolmarl.errors import PatrolMarlError

FLAG = "--roads"
# Typical urban driving speeds by OpenStreetMap-style road class (km/h).
CLASS_SPEED_KMH = {
    "motorway": 80.0,
    "trunk": 60.0,
    "primary": 50.0,
    "secondary": 40.0,
    "tertiary": 35.0,
    "unclassified": 30.0,
    "residential": 25.0,
    "road": 25.0,
    "service": 15.0,
    "track": 15.0,
    "living_street": 10.0,
}
DEFAULT_KMH = 25.0  # every cell's speed without a road file (a town street)
NO_ROAD_KMH = 6.0  # a cell no road crosses: on foot or over open ground
BAND_KMH = 5.0
BAND_CODES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # band k (k + 1) * 5 km/h
SPEED_KEYS = ("maxspeed", "speed_kmh", "speed")
CLASS_KEYS = ("highway", "class", "fclass")


def road_speed_of_cells(path: Path, grid: Grid) -> np.ndarray:
    """``(C,)`` road speed (km/h) of each cell from the road file at ``path``.

    Raises
    ------
    PatrolMarlError
        If the file is unreadable, holds no usable road, or no road crosses the grid.
    """
    path = Path(path)
    if path.suffix.lower() == ".osm":
        lines, speeds = _read_osm(path)
    else:
        lines, speeds = _read_geojson(path)
    if not lines:
        raise PatrolMarlError(
            f"{FLAG} {path}: no road with a speed or a known class "
            f"({', '.join(CLASS_KEYS)}: {', '.join(CLASS_SPEED_KMH)})"
        )
    length, weighted = _length_in_cells(lines, np.array(speeds), grid)
    if not length.any():
        raise PatrolMarlError(f"{FLAG} {path}: no road crosses the district's grid")
    return np.where(length > 0, weighted / np.where(length > 0, length, 1.0), NO_ROAD_KMH)


def speed_bands(speed_kmh: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Each cell's band code and the speed of each band used (code -> km/h)."""
    band = np.clip(np.rint(speed_kmh / BAND_KMH).astype(np.int64) - 1, 0, len(BAND_CODES) - 1)
    codes = np.array(list(BAND_CODES))[band]
    used = {BAND_CODES[b]: (int(b) + 1) * BAND_KMH for b in np.unique(band)}
    return codes, used


def _speed_of(tags: dict) -> float | None:
    """The speed of a road from its properties, or None if it is not a road for cars."""
    for key in SPEED_KEYS:
        value = tags.get(key)
        if isinstance(value, bool) or value is None:
            continue
        match = re.match(r"\s*(\d+(?:\.\d+)?)\s*(mph)?", str(value))
        if match:
            kmh = float(match.group(1)) * (1.609344 if match.group(2) else 1.0)
            if math.isfinite(kmh) and kmh > 0:
                return kmh
    for key in CLASS_KEYS:
        value = str(tags.get(key, "")).removesuffix("_link")
        if value in CLASS_SPEED_KMH:
            return CLASS_SPEED_KMH[value]
    return None


def _read_geojson(path: Path) -> tuple[list, list[float]]:
    lines, speeds = [], []
    for i, feature in enumerate(read_features(path, FLAG)):
        kind = feature["geometry"].get("type")
        if kind not in ("LineString", "MultiLineString"):
            raise PatrolMarlError(
                f"{FLAG} {path}: feature {i} is a {kind}, not a LineString or MultiLineString"
            )
        speed = _speed_of(feature.get("properties") or {})
        if speed is not None:
            lines.append(geometry_of(feature, f"{FLAG} {path}: feature {i}"))
            speeds.append(speed)
    return lines, speeds


def _read_osm(path: Path) -> tuple[list, list[float]]:
    import shapely

    nodes: dict[str, tuple[float, float]] = {}
    lines, speeds = [], []
    try:
        for _, element in ElementTree.iterparse(path, events=("end",)):
            if element.tag == "node":
                nodes[element.get("id")] = (float(element.get("lon")), float(element.get("lat")))
            elif element.tag == "way":
                tags = {t.get("k"): t.get("v") for t in element.iter("tag")}
                speed = _speed_of(tags)
                refs = [nd.get("ref") for nd in element.iter("nd")]
                points = [nodes[r] for r in refs if r in nodes]
                if speed is not None and len(points) >= 2:
                    lines.append(shapely.LineString(points))
                    speeds.append(speed)
                element.clear()
    except FileNotFoundError:
        raise PatrolMarlError(f"{FLAG} {path}: file not found") from None
    except ElementTree.ParseError as exc:
        raise PatrolMarlError(f"{FLAG} {path}: not OSM XML ({exc})") from None
    except (TypeError, ValueError):
        raise PatrolMarlError(f"{FLAG} {path}: a node has no numeric lat/lon") from None
    return lines, speeds


def _length_in_cells(lines: list, speeds: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Road length (m) and length x speed per cell, from pieces of at most a quarter cell."""
    import shapely

    proj = grid.projection
    local = shapely.transform(
        np.array(lines, dtype=object), lambda xy: np.stack(proj.to_metres(*xy.T), axis=1)
    )
    pieces = shapely.segmentize(local, grid.cell_size_m / 4.0)
    parts = shapely.get_parts(pieces)
    owner = np.repeat(np.arange(len(pieces)), shapely.get_num_geometries(pieces))
    xy, part = shapely.get_coordinates(parts, return_index=True)
    same = part[1:] == part[:-1]
    mid = 0.5 * (xy[1:] + xy[:-1])[same]
    seg = np.hypot(*(xy[1:] - xy[:-1])[same].T)
    cell = grid.cell_of(mid[:, 0], mid[:, 1])
    on = cell >= 0
    speed = speeds[owner[part[1:][same]]]
    length = np.bincount(cell[on], weights=seg[on], minlength=grid.n_cells)
    weighted = np.bincount(cell[on], weights=(seg * speed)[on], minlength=grid.n_cells)
    return length, weighted
