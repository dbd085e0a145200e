"""A CAD-like export drawn from a known district: its own call stream, placed on the map.

Used to check an import against the truth (tests) and to time it (benchmarks):
each generated call becomes a row with an id, a wall-clock time, its type's
name in capitals and a WGS84 position uniform within its cell, placed from the
district's ``origin`` by the same local projection the importer uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from patrolmarl.beats.geometry import cells_geometry
from patrolmarl.data.projection import LocalProjection
from patrolmarl.envs.clock import clock_minute
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel


def district_calls(district: District, days: int, seed: int, start: str = "2024-01-01"):
    """A pandas DataFrame ``id, time, type, lat, lon`` of ``days`` generated days from ``start``."""
    import pandas as pd

    origin = district.config.origin
    if origin is None:
        raise ValueError("the district needs an origin to place calls on the map")
    model = IncidentModel(district)
    rng = np.random.default_rng([seed, 1])
    parts = [model.generate_day([seed, d]) for d in range(days)]
    day = np.concatenate([np.full(len(p), d) for d, p in enumerate(parts)]).astype(np.int64)
    minute = clock_minute(district.config.simulation, np.concatenate([p.time for p in parts]))
    kind = np.concatenate([p.type for p in parts]).astype(np.int64)
    cell = np.concatenate([p.cell for p in parts]).astype(np.int64)
    row, col = np.divmod(cell, district.cols)
    size = district.config.cell_size_m
    x = (col + rng.random(cell.size)) * size
    y = -(row + rng.random(cell.size)) * size
    lon, lat = LocalProjection(origin.lat, origin.lon).to_lonlat(x, y)
    seconds = np.floor(minute * 60.0).astype(np.int64) + day * 86_400
    time = np.datetime64(start, "s") + seconds.astype("timedelta64[s]")
    names = np.array([n.upper() for n in model.type_names], dtype=object)
    return pd.DataFrame(
        {
            "id": np.arange(cell.size),
            "time": np.datetime_as_string(time, unit="s"),
            "type": names[kind],
            "lat": np.round(lat, 7),
            "lon": np.round(lon, 7),
        }
    )


def precincts_geojson(district: District) -> dict[str, Any]:
    """The district's precincts as a GeoJSON FeatureCollection, each named by ``name``."""
    features = []
    for p, code in enumerate(district.precinct_codes):
        mask = (district.precinct_of_cell == p).reshape(district.rows, district.cols)
        features.append(
            {
                "type": "Feature",
                "geometry": cells_geometry(mask, district, 7),
                "properties": {"name": district.config.precincts[code].name, "code": code},
            }
        )
    return {"type": "FeatureCollection", "features": features}
