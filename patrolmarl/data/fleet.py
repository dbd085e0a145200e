"""Stations and patrol units from a planner's small files, or a stated default.

``stations.csv`` has a header with ``name``, ``lat``, ``lon`` and optionally
``precincts`` (precinct names separated by ``;``; default: the precinct the
station stands in). ``units.yaml`` names precincts and stations as the data
does::

    vehicles: {patrol_car: {max_speed_kmh: 40}}
    units:
      - {count: 2, vehicle: patrol_car, precinct: North}
      - {count: 1, vehicle: patrol_car, station: Central}
    precincts: {North: {responders: 3}}     # optional, per precinct name
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from patrolmarl.data.grid import Grid
from patrolmarl.envs.config import Precinct, UnitGroup, Vehicle
from patrolmarl.errors import ConfigError, PatrolMarlError
from patrolmarl.yaml_config import read_yaml_mapping, validate_mapping

DEFAULT_VEHICLES = {"patrol_car": {"max_speed_kmh": 40.0}}
DEFAULT_UNITS_PER_PRECINCT = 2


class _PrecinctSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    responders: int = Field(default=2, ge=1)
    responder_travel_minutes: float = Field(default=10.0, ge=0, allow_inf_nan=False)


class _UnitsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vehicles: dict[str, Vehicle] = Field(min_length=1)
    units: list[UnitGroup] = Field(min_length=1)
    precincts: dict[str, _PrecinctSettings] = {}


@dataclass(frozen=True)
class Fleet:
    """The district file's ``precincts``, ``stations``, ``vehicles`` and ``units`` sections."""

    precincts: dict[str, dict[str, Any]]
    stations: list[dict[str, Any]]
    vehicles: dict[str, dict[str, Any]]
    units: list[dict[str, Any]]
    is_default: bool


def read_stations(
    path: Path, grid: Grid, precinct_of_cell: np.ndarray, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The stations of a CSV as district ``stations`` entries (precinct codes, grid cells).

    Raises
    ------
    PatrolMarlError
        One line naming the file, row and field that is wrong.
    """
    flag = f"--stations {path}"
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            header = [] if not rows else list(rows[0])
    except FileNotFoundError:
        raise PatrolMarlError(f"{flag}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PatrolMarlError(f"{flag}: cannot read CSV ({exc.__class__.__name__})") from None
    if not rows:
        raise PatrolMarlError(f"{flag}: no stations (need a header and a row per station)")
    for column in ("name", "lat", "lon"):
        if column not in header:
            raise PatrolMarlError(f"{flag}: no column {column!r} (columns: {', '.join(header)})")
    code = {name: precinct_code(i) for i, name in enumerate(names)}
    stations, seen = [], set()
    for i, row in enumerate(rows, start=2):
        name = (row["name"] or "").strip()
        if not name or name in seen:
            raise PatrolMarlError(f"{flag}: line {i}: name is empty or repeated")
        seen.add(name)
        lat, lon = _number(row["lat"], flag, i, "lat"), _number(row["lon"], flag, i, "lon")
        cell = int(grid.cell_of(*grid.projection.to_metres(np.array([lon]), np.array([lat])))[0])
        if cell < 0:
            raise PatrolMarlError(f"{flag}: line {i}: station {name!r} is outside the grid")
        bound = [p.strip() for p in (row.get("precincts") or "").split(";") if p.strip()]
        for p in bound:
            if p not in code:
                raise PatrolMarlError(
                    f"{flag}: line {i}: unknown precinct {p!r} (precincts: {', '.join(names)})"
                )
        codes = [code[p] for p in bound] or [precinct_code(int(precinct_of_cell[cell]))]
        stations.append({"name": name, "cell": list(divmod(cell, grid.cols)), "precincts": codes})
    return stations


def read_fleet(path: Path | None, names: tuple[str, ...], stations: list[dict[str, Any]]) -> Fleet:
    """Precincts, vehicles and units from a units file, or the default fleet without one.

    The default is :data:`DEFAULT_UNITS_PER_PRECINCT` patrol cars per precinct
    and two responders per precinct; the district file says so for editing.
    """
    code = {name: precinct_code(i) for i, name in enumerate(names)}
    if path is None:
        precincts = {code[n]: Precinct(name=n).model_dump() for n in names}
        units = [
            {"count": DEFAULT_UNITS_PER_PRECINCT, "vehicle": "patrol_car", "precinct": code[n]}
            for n in names
        ]
        return Fleet(precincts, stations, DEFAULT_VEHICLES, units, is_default=True)
    source = str(path)
    spec = validate_mapping(_UnitsFile, read_yaml_mapping(Path(path)), source)
    station_names = {s["name"] for s in stations}
    for name in spec.precincts:
        if name not in code:
            raise ConfigError(
                source, f"precincts.{name}", f"unknown precinct (known: {', '.join(names)})"
            )
    units = []
    for i, group in enumerate(spec.units):
        if group.vehicle not in spec.vehicles:
            raise ConfigError(source, f"units.{i}.vehicle", f"unknown vehicle {group.vehicle!r}")
        if group.precinct is not None and group.precinct not in code:
            raise ConfigError(
                source,
                f"units.{i}.precinct",
                f"unknown precinct {group.precinct!r} (known: {', '.join(names)})",
            )
        if group.station is not None and group.station not in station_names:
            raise ConfigError(
                source, f"units.{i}.station", f"unknown station {group.station!r} (see --stations)"
            )
        unit = group.model_dump(exclude_none=True)
        if group.precinct is not None:
            unit["precinct"] = code[group.precinct]
        units.append(unit)
    precincts = {
        code[n]: Precinct(
            name=n, **spec.precincts.get(n, _PrecinctSettings()).model_dump()
        ).model_dump()
        for n in names
    }
    vehicles = {k: v.model_dump() for k, v in spec.vehicles.items()}
    return Fleet(precincts, stations, vehicles, units, is_default=False)


# Single-character precinct codes, in order (the district file's precinct_map uses them).
PRECINCT_CODES = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def precinct_code(index: int) -> str:
    """The map character of the ``index``-th precinct."""
    return PRECINCT_CODES[index]


def _number(text: str | None, flag: str, line: int, name: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise PatrolMarlError(f"{flag}: line {line}: {name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise PatrolMarlError(f"{flag}: line {line}: {name} must be finite")
    return value
