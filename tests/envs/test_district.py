"""The district arrays: travel times, neighbour and move tables, units' homes."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

from patrolmarl.envs.config import (
    MAX_GRID_CELLS,
    MAX_TRAVEL_TABLE_ENTRIES,
    MAX_UNITS,
    load_district_config,
    validate_district_dict,
)
from patrolmarl.envs.district import District
from patrolmarl.errors import ConfigError
from tests.helpers import GAOXIN_CONFIG_SHA256

NORTH, SOUTH, EAST, WEST = range(4)


def _small() -> District:
    """2 x 3 cells of 600 m: F = 60 km/h (0.6 min across), S = 12 km/h (3 min across).

    ::

        F F S        cells 0 1 2
        S F F              3 4 5
    """
    raw = {
        "name": "small",
        "cell_size_m": 600,
        "land_use_map": ["FFS", "SFF"],
        "precinct_map": ["aab", "abb"],
        "land_uses": {
            "F": {"name": "fast", "road_speed_kmh": 60, "street_traffic": 2.0},
            "S": {"name": "slow", "road_speed_kmh": 12, "street_traffic": 0.5},
        },
        "precincts": {"a": {"name": "A"}, "b": {"name": "B"}},
        "stations": [{"name": "st", "cell": [1, 2], "precincts": ["a", "b"]}],
        "vehicles": {"car": {"max_speed_kmh": 100}, "bike": {"max_speed_kmh": 12}},
        "units": [
            {"count": 1, "vehicle": "car", "precinct": "a"},
            {"count": 2, "vehicle": "bike", "station": "st"},
        ],
        "call_types": {
            "call": {
                "daily_rate": 10,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"F": 1.0},
                "service": {"dist": "fixed", "mean": 10},
            }
        },
    }
    return District.from_config(validate_district_dict(raw, "<small>"))


def _floyd_warshall(edge: np.ndarray, neighbour: np.ndarray) -> np.ndarray:
    """All-pairs shortest paths from scratch (independent of the district's Dijkstra)."""
    n = neighbour.shape[0]
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0.0)
    for cell in range(n):
        for d in range(4):
            if neighbour[cell, d] >= 0:
                dist[cell, neighbour[cell, d]] = min(dist[cell, neighbour[cell, d]], edge[cell, d])
    for k in range(n):
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return dist


def test_small_grid_by_hand() -> None:
    d = _small()
    assert (d.rows, d.cols, d.n_cells) == (2, 3, 6)
    car, bike = d.vehicle_names.index("car"), d.vehicle_names.index("bike")
    t = d.travel_minutes
    # Car: fast cells take 0.6 min to cross, slow ones 3; an edge costs half of each.
    assert t[car, 0, 1] == pytest.approx(0.6)  # F-F
    assert t[car, 0, 3] == pytest.approx(1.8)  # F-S
    assert t[car, 0, 5] == pytest.approx(1.8)  # 0 -> 1 -> 4 -> 5, all fast
    assert t[car, 0, 2] == pytest.approx(2.4)  # 0 -> 1 (0.6) -> 2 (1.8)
    assert t[car, 3, 2] == pytest.approx(4.2)
    assert t[car, 2, 3] == pytest.approx(4.2)
    # The bike is capped at 12 km/h everywhere: 3 min per cell, Manhattan distance.
    rc = d.cell_rc
    manhattan = np.abs(rc[:, None, :] - rc[None, :, :]).sum(axis=2)
    assert np.allclose(t[bike], 3.0 * manhattan)
    # Moves: cell 0 has no north or west neighbour.
    assert d.neighbour[0].tolist() == [-1, 3, 1, -1]
    assert d.neighbour[4].tolist() == [1, -1, 5, 3]
    assert d.neighbour[5].tolist() == [2, -1, -1, 4]
    assert np.isinf(d.move_minutes[car, 0, [NORTH, WEST]]).all()
    assert d.move_minutes[car, 0, EAST] == pytest.approx(0.6)
    assert d.move_minutes[car, 0, SOUTH] == pytest.approx(1.8)
    assert d.move_minutes[car, 1, EAST] == pytest.approx(1.8)
    # Units: the car at precinct a's cell nearest its centroid, bikes at the station.
    assert d.unit_vehicle.tolist() == [car, bike, bike]
    assert d.unit_start_cell.tolist() == [0, 5, 5]
    assert d.unit_precinct.tolist() == [0, 1, 1]
    assert d.unit_home_precincts.tolist() == [[True, False], [True, True], [True, True]]
    assert d.unit_station.tolist() == [-1, 0, 0]
    assert d.street_traffic.tolist() == [2.0, 2.0, 0.5, 0.5, 2.0, 2.0]
    assert d.precinct_of_cell.tolist() == [0, 0, 1, 0, 1, 1]
    assert np.array_equal(d.unit_travel_minutes[1], t[bike])


@pytest.fixture(scope="module")
def gaoxin() -> District:
    return District.load("gaoxin")


def test_travel_matrix_properties(gaoxin: District) -> None:
    t = gaoxin.travel_minutes
    assert t.shape == (len(gaoxin.vehicle_names), gaoxin.n_cells, gaoxin.n_cells)
    assert np.isfinite(t).all()
    for v in range(t.shape[0]):
        tv = t[v]
        assert (np.diag(tv) == 0).all()
        off = ~np.eye(gaoxin.n_cells, dtype=bool)
        assert (tv[off] > 0).all()
        # Edge costs are symmetric, so is the matrix.
        assert np.allclose(tv, tv.T, rtol=1e-12, atol=1e-12)
        # Triangle inequality, and closure: no detour through a third cell is shorter.
        for k0 in range(0, gaoxin.n_cells, 25):
            ks = slice(k0, k0 + 25)
            via = tv[:, ks, None] + tv[None, ks, :]  # (i, k, j): i -> k -> j
            assert (via.min(axis=1) >= tv - 1e-9).all()
        # A move never beats the shortest path, and neighbours are one move apart.
        nb = gaoxin.neighbour
        inside = nb >= 0
        cells = np.repeat(np.arange(gaoxin.n_cells)[:, None], 4, axis=1)
        assert (tv[cells[inside], nb[inside]] <= gaoxin.move_minutes[v][inside] + 1e-12).all()


def test_travel_matrix_matches_floyd_warshall(gaoxin: District) -> None:
    """Recompute every vehicle's matrix from the config's speeds by Floyd-Warshall."""
    cfg = gaoxin.config
    speed = np.array([cfg.land_uses[c].road_speed_kmh for c in gaoxin.land_use_codes])
    speed = speed[gaoxin.land_use_of_cell]
    for v, name in enumerate(gaoxin.vehicle_names):
        cap = np.minimum(speed, cfg.vehicles[name].max_speed_kmh)
        across = cfg.cell_size_m / 1000.0 / cap * 60.0
        nb = gaoxin.neighbour
        edge = np.where(nb >= 0, 0.5 * (across[:, None] + across[np.maximum(nb, 0)]), np.inf)
        assert np.allclose(gaoxin.move_minutes[v][nb >= 0], edge[nb >= 0])
        assert np.isinf(gaoxin.move_minutes[v][nb < 0]).all()
        assert np.allclose(gaoxin.travel_minutes[v], _floyd_warshall(edge, nb), rtol=1e-12)
    # Faster vehicles are never slower.
    car, armed, bike = (
        gaoxin.vehicle_names.index(n) for n in ("e_patrol_car", "armed_car", "e_bike")
    )
    t = gaoxin.travel_minutes
    assert (t[armed] <= t[car] + 1e-12).all() and (t[car] <= t[bike] + 1e-12).all()
    assert (t[armed] < t[bike]).sum() > 0


def test_neighbour_and_move_tables(gaoxin: District) -> None:
    d = gaoxin
    rc = d.cell_rc
    assert np.array_equal(rc[:, 0] * d.cols + rc[:, 1], np.arange(d.n_cells))
    deltas = [(-1, 0), (1, 0), (0, 1), (0, -1)]  # N, S, E, W
    for direction, (dr, dc) in enumerate(deltas):
        r, c = rc[:, 0] + dr, rc[:, 1] + dc
        inside = (r >= 0) & (r < d.rows) & (c >= 0) & (c < d.cols)
        expect = np.where(inside, r * d.cols + c, -1)
        assert np.array_equal(d.neighbour[:, direction], expect)
    # Moves are reversible: north then south comes back, east then west too.
    nb = d.neighbour
    for there, back in ((NORTH, SOUTH), (SOUTH, NORTH), (EAST, WEST), (WEST, EAST)):
        ok = nb[:, there] >= 0
        assert np.array_equal(nb[nb[ok, there], back], np.flatnonzero(ok))
        # ... at the same cost each way.
        assert np.array_equal(d.move_minutes[:, ok, there], d.move_minutes[:, nb[ok, there], back])
    # Corners have exactly two moves, edges three, the interior four.
    n_moves = (nb >= 0).sum(axis=1)
    assert n_moves.tolist().count(2) == 4
    assert n_moves.tolist().count(3) == 2 * (d.rows - 2) + 2 * (d.cols - 2)
    assert n_moves.tolist().count(4) == (d.rows - 2) * (d.cols - 2)


def test_units_start_at_home(gaoxin: District) -> None:
    d = gaoxin
    assert d.n_units == sum(g.count for g in d.config.units)
    for n in range(d.n_units):
        cell = d.unit_start_cell[n]
        if d.unit_station[n] >= 0:
            assert cell == d.station_cells[d.unit_station[n]]
            assert np.array_equal(d.unit_home_precincts[n], d.station_precincts[d.unit_station[n]])
        else:
            assert d.precinct_of_cell[cell] == d.unit_precinct[n]
            assert d.unit_home_precincts[n].sum() == 1
            assert d.unit_home_precincts[n, d.unit_precinct[n]]
        assert d.unit_precinct[n] == d.precinct_of_cell[cell]
    assert np.array_equal(d.unit_travel_minutes, d.travel_minutes[d.unit_vehicle])


def test_builtin_config_hash_is_unchanged() -> None:
    """A shipped model's card records this hash: stricter types must not change the dump."""
    config = District.load("gaoxin").config
    digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()
    assert digest == GAOXIN_CONFIG_SHA256


def _square(side: int, units: int) -> dict:
    return {
        "name": "square",
        "cell_size_m": 400,
        "land_use_map": ["S" * side] * side,
        "precinct_map": ["a" * side] * side,
        "land_uses": {"S": {"name": "street", "road_speed_kmh": 25}},
        "precincts": {"a": {"name": "A"}},
        "vehicles": {"car": {"max_speed_kmh": 30}},
        "units": [{"count": units, "vehicle": "car", "precinct": "a"}],
        "call_types": {
            "call": {
                "daily_rate": 10,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0},
                "service": {"dist": "fixed", "mean": 10},
            }
        },
    }


def test_grid_and_unit_limits() -> None:
    """20 km x 20 km at 400 m (2,500 cells) with 14 units fits; past the limits, one line."""
    config = validate_district_dict(_square(50, 14), "<square>")
    assert len(config.land_use_map) * len(config.land_use_map[0]) == 2_500
    side = int(MAX_GRID_CELLS**0.5) + 1
    with pytest.raises(ConfigError, match=rf"land_use_map: {side}x{side} is .* cells, more than"):
        validate_district_dict(_square(side, 1), "<square>")
    units = MAX_TRAVEL_TABLE_ENTRIES // 2_500**2  # with the vehicle type's own table: 1 too many
    with pytest.raises(ConfigError, match=r"<square>: units: .* travel tables"):
        validate_district_dict(_square(50, units), "<square>")
    with pytest.raises(ConfigError, match=rf"units.0.count: .* {MAX_UNITS}"):
        validate_district_dict(_square(2, MAX_UNITS + 1), "<square>")


def test_a_bad_value_is_located_at_its_line_and_column(tmp_path):
    text = (resources.files("patrolmarl") / "districts" / "gaoxin.yaml").read_text()
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "vehicle: armed_car" in line)
    column = lines[row].index("vehicle")
    lines[row] = lines[row].replace("vehicle: armed_car", "vehicle: bicycle")
    path = tmp_path / "district.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(ConfigError) as info:
        load_district_config(path)
    assert str(info.value).startswith(f"{path}:{row + 1}:{column + 1}: units."), info.value
    assert "unknown vehicle 'bicycle'" in str(info.value)
