"""Positions on the district's grid: WGS84 or a projected CRS to metres about the origin.

The local metric projection is the equirectangular one the beats' GeoJSON is
written in (:func:`patrolmarl.beats.geometry.to_map` uses it), so whatever is
imported lands back on the same place: ``x`` metres east and ``y`` metres north
of the origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patrolmarl.errors import PatrolMarlError

#: Metres per degree of latitude (and of longitude on the equator).
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular metres about a WGS84 point (``lat0``, ``lon0``)."""

    lat0: float
    lon0: float

    @property
    def _metres_per_degree_lon(self) -> float:
        return METRES_PER_DEGREE * math.cos(math.radians(self.lat0))

    def to_metres(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x east, y north)`` metres of WGS84 positions."""
        x = (np.asarray(lon, dtype=float) - self.lon0) * self._metres_per_degree_lon
        y = (np.asarray(lat, dtype=float) - self.lat0) * METRES_PER_DEGREE
        return x, y

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 ``(lon, lat)`` of local metres (the inverse of :meth:`to_metres`)."""
        lon = self.lon0 + np.asarray(x, dtype=float) / self._metres_per_degree_lon
        lat = self.lat0 + np.asarray(y, dtype=float) / METRES_PER_DEGREE
        return lon, lat


def to_wgs84(
    x: np.ndarray, y: np.ndarray, crs: str, flag: str = "--crs"
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 ``(lon, lat)`` of coordinates in ``crs`` (e.g. ``"EPSG:32649"``), by pyproj."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError:
        raise PatrolMarlError(f"{flag}: unknown coordinate reference system {crs!r}") from None
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
