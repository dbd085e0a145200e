"""The district as arrays: grid, precincts, stations, units and travel times."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from patrolmarl.envs.config import DistrictConfig, load_district_config

# Moves of the action space, in order: north, south, east, west (row, col deltas).
MOVE_DELTAS = np.array([[-1, 0], [1, 0], [0, 1], [0, -1]], dtype=np.int64)


@dataclass(frozen=True)
class District:
    """A validated district, with everything the simulator needs as arrays.

    Cells are numbered row-major: ``cell = row * cols + col``.

    Attributes
    ----------
    config
        The validated config it was built from.
    rows, cols
        Grid shape.
    precinct_of_cell
        ``(C,)`` precinct index of each cell.
    unit_vehicle, unit_precinct, unit_start_cell
        ``(N,)`` per patrol unit: vehicle index, home precinct index (a station's
        unit takes its station's cell's precinct), starting cell.
    unit_home_precincts
        ``(N, P)`` bool: the precincts a unit is bound to (its own, or its
        station's bound precincts).
    travel_minutes
        ``(V, C, C)`` shortest travel time between cells for each vehicle type.
    neighbour
        ``(C, 4)`` the cell reached by each move, or -1 off the grid.
    move_minutes
        ``(V, C, 4)`` time of each move for each vehicle type (inf off the grid).
    street_traffic
        ``(C,)`` street-traffic weight of each cell (for the visibility metric).
    """

    config: DistrictConfig
    rows: int
    cols: int
    land_use_codes: tuple[str, ...]
    land_use_of_cell: np.ndarray
    precinct_codes: tuple[str, ...]
    precinct_of_cell: np.ndarray
    station_cells: np.ndarray
    station_precincts: np.ndarray
    vehicle_names: tuple[str, ...]
    unit_vehicle: np.ndarray
    unit_precinct: np.ndarray
    unit_station: np.ndarray
    unit_start_cell: np.ndarray
    unit_home_precincts: np.ndarray
    travel_minutes: np.ndarray
    neighbour: np.ndarray
    move_minutes: np.ndarray
    street_traffic: np.ndarray

    @property
    def name(self) -> str:
        """The district's name from its file."""
        return self.config.name

    @property
    def n_cells(self) -> int:
        """Number of grid cells ``C``."""
        return self.rows * self.cols

    @property
    def n_units(self) -> int:
        """Number of patrol units (agents) ``N``."""
        return int(self.unit_vehicle.shape[0])

    @property
    def n_precincts(self) -> int:
        """Number of precincts ``P``."""
        return len(self.precinct_codes)

    @cached_property
    def config_sha256(self) -> str:
        """SHA-256 (hex) of the validated config: identifies the district exactly."""
        return hashlib.sha256(self.config.model_dump_json().encode()).hexdigest()

    @cached_property
    def cell_rc(self) -> np.ndarray:
        """``(C, 2)`` row and column of each cell."""
        cells = np.arange(self.n_cells)
        return np.stack([cells // self.cols, cells % self.cols], axis=1)

    @cached_property
    def unit_travel_minutes(self) -> np.ndarray:
        """``(N, C, C)`` travel matrix of each unit's own vehicle."""
        return self.travel_minutes[self.unit_vehicle]

    @classmethod
    def load(cls, district: str | Path, **overrides: Any) -> District:
        """Load a built-in district by name or a YAML file by path."""
        return cls.from_config(load_district_config(district, overrides or None))

    @classmethod
    def from_config(cls, config: DistrictConfig) -> District:
        """Build the arrays of a validated config."""
        rows, cols = len(config.land_use_map), len(config.land_use_map[0])
        lu_codes = tuple(config.land_uses)
        pr_codes = tuple(config.precincts)
        land_use = np.array(
            [lu_codes.index(ch) for row in config.land_use_map for ch in row], dtype=np.int64
        )
        precinct = np.array(
            [pr_codes.index(ch) for row in config.precinct_map for ch in row], dtype=np.int64
        )
        station_cells = np.array(
            [s.cell[0] * cols + s.cell[1] for s in config.stations], dtype=np.int64
        )
        station_precincts = np.zeros((len(config.stations), len(pr_codes)), dtype=bool)
        for i, st in enumerate(config.stations):
            station_precincts[i, [pr_codes.index(p) for p in st.precincts]] = True

        vehicle_names = tuple(config.vehicles)
        road_speed = np.array([config.land_uses[c].road_speed_kmh for c in lu_codes])[land_use]
        traffic = np.array([config.land_uses[c].street_traffic for c in lu_codes])[land_use]
        neighbour = _neighbours(rows, cols)
        travel, move = [], []
        for vname in vehicle_names:
            speed = np.minimum(road_speed, config.vehicles[vname].max_speed_kmh)
            minutes_across = config.cell_size_m / 1000.0 / speed * 60.0
            t, m = _travel_times(neighbour, minutes_across)
            travel.append(t)
            move.append(m)

        unit_vehicle, unit_precinct, unit_station, unit_start, unit_home = [], [], [], [], []
        station_index = {s.name: i for i, s in enumerate(config.stations)}
        for group in config.units:
            for _ in range(group.count):
                unit_vehicle.append(vehicle_names.index(group.vehicle))
                home = np.zeros(len(pr_codes), dtype=bool)
                if group.station is not None:
                    s = station_index[group.station]
                    cell = int(station_cells[s])
                    unit_station.append(s)
                    unit_precinct.append(int(precinct[cell]))
                    home |= station_precincts[s]
                else:
                    p = pr_codes.index(group.precinct)
                    cell = _precinct_centre(precinct, p, rows, cols)
                    unit_station.append(-1)
                    unit_precinct.append(p)
                    home[p] = True
                unit_start.append(cell)
                unit_home.append(home)
        return cls(
            config=config,
            rows=rows,
            cols=cols,
            land_use_codes=lu_codes,
            land_use_of_cell=land_use,
            precinct_codes=pr_codes,
            precinct_of_cell=precinct,
            station_cells=station_cells,
            station_precincts=station_precincts,
            vehicle_names=vehicle_names,
            unit_vehicle=np.array(unit_vehicle, dtype=np.int64),
            unit_precinct=np.array(unit_precinct, dtype=np.int64),
            unit_station=np.array(unit_station, dtype=np.int64),
            unit_start_cell=np.array(unit_start, dtype=np.int64),
            unit_home_precincts=np.array(unit_home, dtype=bool),
            travel_minutes=np.stack(travel),
            neighbour=neighbour,
            move_minutes=np.stack(move),
            street_traffic=traffic.astype(np.float64),
        )


def _neighbours(rows: int, cols: int) -> np.ndarray:
    rc = np.stack(np.divmod(np.arange(rows * cols), cols), axis=1)
    target = rc[:, None, :] + MOVE_DELTAS[None, :, :]
    inside = (
        (target[..., 0] >= 0)
        & (target[..., 0] < rows)
        & (target[..., 1] >= 0)
        & (target[..., 1] < cols)
    )
    return np.where(inside, target[..., 0] * cols + target[..., 1], -1)


def _travel_times(
    neighbour: np.ndarray, minutes_across: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs shortest travel times; an edge costs half of each cell's crossing time."""
    n_cells = neighbour.shape[0]
    src = np.repeat(np.arange(n_cells), 4)
    dst = neighbour.ravel()
    ok = dst >= 0
    edge = np.full(n_cells * 4, np.inf)
    edge[ok] = 0.5 * (minutes_across[src[ok]] + minutes_across[dst[ok]])
    graph = coo_matrix((edge[ok], (src[ok], dst[ok])), shape=(n_cells, n_cells)).tocsr()
    return dijkstra(graph, directed=True), edge.reshape(n_cells, 4)


def _precinct_centre(precinct_of_cell: np.ndarray, p: int, rows: int, cols: int) -> int:
    """The precinct's cell nearest its centroid (ties: lowest cell index)."""
    cells = np.flatnonzero(precinct_of_cell == p)
    r, c = np.divmod(cells, cols)
    d = (r - r.mean()) ** 2 + (c - c.mean()) ** 2
    return int(cells[np.argmin(d)])
