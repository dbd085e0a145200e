"""Import options: precincts from a column, projected coordinates, stations and units, roads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from patrolmarl.cli import main
from patrolmarl.data.grid import grid_over
from patrolmarl.data.projection import LocalProjection
from patrolmarl.data.roads import NO_ROAD_KMH, road_speed_of_cells
from patrolmarl.envs.district import District

from .conftest import Export

GAOXIN = District.load("gaoxin")
ORIGIN = LocalProjection(GAOXIN.config.origin.lat, GAOXIN.config.origin.lon)


def _small(export: Export, tmp_path: Path, rows: int = 400) -> pd.DataFrame:
    return pd.read_csv(export.calls, nrows=rows)


def _cell_of(frame: pd.DataFrame) -> np.ndarray:
    x, y = ORIGIN.to_metres(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    return (np.floor(-y / 400) * GAOXIN.cols + np.floor(x / 400)).astype(int)


def _lonlat_of_cell(row: float, col: float) -> tuple[float, float]:
    lon, lat = ORIGIN.to_lonlat(np.array(col * 400.0), np.array(-row * 400.0))
    return float(lon), float(lat)


def test_precincts_from_a_column_without_boundary(gaoxin_export, tmp_path) -> None:
    frame = _small(gaoxin_export, tmp_path)
    names = np.array([GAOXIN.config.precincts[c].name for c in GAOXIN.precinct_codes])
    frame["beat"] = names[GAOXIN.precinct_of_cell[_cell_of(frame)]]
    calls = tmp_path / "calls.csv"
    frame.to_csv(calls, index=False)
    out = tmp_path / "d.yaml"
    argv = ["district", "import", "--calls", str(calls), "--types", str(gaoxin_export.types)]
    assert main([*argv, "--precinct-column", "beat", "--out", str(out)]) == 0
    got = District.load(out)
    # The grid is the calls' extent and a cell of margin; every call's cell has its precinct.
    grid = grid_over(
        frame["lon"].min(), frame["lat"].min(), frame["lon"].max(), frame["lat"].max(), 400, 400
    )
    cell = grid.cell_of(*grid.projection.to_metres(frame["lon"], frame["lat"]))
    got_names = np.array([got.config.precincts[c].name for c in got.precinct_codes])
    np.testing.assert_array_equal(got_names[got.precinct_of_cell[cell]], frame["beat"])
    assert (got.rows, got.cols) == (grid.rows, grid.cols)


def test_projected_coordinates_give_the_same_district(gaoxin_export, tmp_path) -> None:
    from pyproj import Transformer

    frame = _small(gaoxin_export, tmp_path)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
    frame["east"], frame["north"] = to_utm.transform(frame["lon"], frame["lat"])
    calls = tmp_path / "calls.csv"
    frame.to_csv(calls, index=False)
    ex = Export(tmp_path, calls, gaoxin_export.types, gaoxin_export.boundary)
    assert main(ex.argv(tmp_path / "a.yaml")) == 0
    utm = ["--x-column", "east", "--y-column", "north", "--crs", "EPSG:32649"]
    assert main(ex.argv(tmp_path / "b.yaml", *utm)) == 0
    a, b = (yaml.safe_load((tmp_path / n).read_text()) for n in ("a.yaml", "b.yaml"))
    assert a["precinct_map"] == b["precinct_map"]
    for name, ct in a["call_types"].items():
        assert ct["daily_rate"] == b["call_types"][name]["daily_rate"]
        np.testing.assert_allclose(ct["cell_intensity"], b["call_types"][name]["cell_intensity"])


def test_stations_and_units_from_files(gaoxin_export, tmp_path) -> None:
    frame = _small(gaoxin_export, tmp_path)
    calls = tmp_path / "calls.csv"
    frame.to_csv(calls, index=False)
    north, south = _lonlat_of_cell(5.5, 9.5), _lonlat_of_cell(15.5, 10.5)
    stations = tmp_path / "stations.csv"
    stations.write_text(
        "name,lat,lon,precincts\n"
        f"north,{north[1]},{north[0]},Xinxu;Keyuan\n"
        f"south,{south[1]},{south[0]},\n"
    )
    units = tmp_path / "units.yaml"
    units.write_text(
        "vehicles: {car: {max_speed_kmh: 30}, bike: {max_speed_kmh: 18}}\n"
        "units:\n"
        "  - {count: 2, vehicle: car, precinct: Anji}\n"
        "  - {count: 3, vehicle: bike, station: north}\n"
        "precincts: {Anji: {responders: 4}}\n"
    )
    ex = Export(tmp_path, calls, gaoxin_export.types, gaoxin_export.boundary)
    out = tmp_path / "d.yaml"
    assert main(ex.argv(out, "--stations", str(stations), "--units", str(units))) == 0
    got = District.load(out)
    assert [s.cell for s in got.config.stations] == [(5, 9), (15, 10)]
    code = {p.name: c for c, p in got.config.precincts.items()}
    assert got.config.stations[0].precincts == [code["Xinxu"], code["Keyuan"]]
    assert got.config.stations[1].precincts == [code["Anji"]]  # the precinct it stands in
    assert got.n_units == 5 and got.config.precincts[code["Anji"]].responders == 4
    assert "A default fleet" not in out.read_text()


def test_units_naming_an_unknown_precinct(gaoxin_export, tmp_path, capsys) -> None:
    units = tmp_path / "units.yaml"
    units.write_text(
        "vehicles: {car: {max_speed_kmh: 30}}\nunits: [{count: 1, vehicle: car, precinct: X}]\n"
    )
    out = tmp_path / "d.yaml"
    assert main(gaoxin_export.argv(out, "--units", str(units))) == 2
    err = capsys.readouterr().err
    assert "units.yaml: units.0.precinct: unknown precinct 'X' (known: Xinxu, Keyuan, Anji" in err
    assert not out.exists()


def _road_grid():
    return grid_over(
        ORIGIN.lon0, ORIGIN.lat0 - 4 * 400 / 111_320.0, ORIGIN.lon0 + 0.02, ORIGIN.lat0, 400, 0.0
    )


def test_roads_from_geojson_lines(tmp_path) -> None:
    grid = _road_grid()  # 4 rows
    west, east = _lonlat_of_cell(1.5, 0.0), _lonlat_of_cell(1.5, grid.cols)
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [west, east]},
        "properties": {"highway": "primary"},
    }
    footway = {**feature, "properties": {"highway": "footway"}}  # not for cars: left out
    roads = tmp_path / "roads.geojson"
    roads.write_text(json.dumps({"type": "FeatureCollection", "features": [feature, footway]}))
    speed = road_speed_of_cells(roads, grid).reshape(grid.rows, grid.cols)
    np.testing.assert_allclose(speed[1], 50.0)
    assert np.all(speed[[0, 2, 3]] == NO_ROAD_KMH)


def test_roads_from_osm_xml(tmp_path) -> None:
    grid = _road_grid()
    north, south = _lonlat_of_cell(0.0, 2.5), _lonlat_of_cell(4.0, 2.5)
    roads = tmp_path / "roads.osm"
    roads.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        f'<node id="1" lat="{north[1]}" lon="{north[0]}"/>'
        f'<node id="2" lat="{south[1]}" lon="{south[0]}"/>'
        '<way id="9"><nd ref="1"/><nd ref="2"/>'
        '<tag k="highway" v="residential"/><tag k="maxspeed" v="30"/></way></osm>'
    )
    speed = road_speed_of_cells(roads, grid).reshape(grid.rows, grid.cols)
    np.testing.assert_allclose(speed[:, 2], 30.0)
    assert np.all(np.delete(speed, 2, axis=1) == NO_ROAD_KMH)


def test_road_speeds_become_land_use_bands(gaoxin_export, tmp_path) -> None:
    west, east = _lonlat_of_cell(3.5, 0.0), _lonlat_of_cell(3.5, 20.0)
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [west, east]},
        "properties": {"maxspeed": "40"},
    }
    roads = tmp_path / "roads.geojson"
    roads.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    out = tmp_path / "d.yaml"
    assert main(gaoxin_export.argv(out, "--roads", str(roads))) == 0
    got = District.load(out)
    speed = np.array([got.config.land_uses[c].road_speed_kmh for c in got.land_use_codes])
    grid = speed[got.land_use_of_cell].reshape(got.rows, got.cols)
    assert np.all(grid[3] == 40.0) and np.all(np.delete(grid, 3, axis=0) == 5.0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
         '"geometry": {"type": "Point", "coordinates": [108.3, 22.8]}}]}',
         "feature 0 is a Point, not a LineString or MultiLineString"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
         '"geometry": {"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.8]]}}]}',
         "no road with a speed or a known class"),
    ],
)  # fmt: skip
def test_bad_road_files(gaoxin_export, tmp_path, capsys, text, reason) -> None:
    roads = tmp_path / "roads.geojson"
    roads.write_text(text)
    out = tmp_path / "d.yaml"
    assert main(gaoxin_export.argv(out, "--roads", str(roads))) == 2
    assert reason in capsys.readouterr().err
    assert not out.exists()
