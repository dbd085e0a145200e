"""Bad data: one line naming the file or flag, exit code 2, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from patrolmarl.cli import main

from .conftest import Export


def _small(gaoxin_export: Export, tmp_path: Path, rows: int = 300) -> Export:
    """The first ``rows`` calls of the export, with the same type map and boundary."""
    calls = tmp_path / "calls.csv"
    pd.read_csv(gaoxin_export.calls, nrows=rows).to_csv(calls, index=False)
    return Export(tmp_path, calls, gaoxin_export.types, gaoxin_export.boundary)


def _fails(capsys, argv: list[str], expected: str, out: Path) -> str:
    before = sorted(p.name for p in out.parent.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("patrolmarl: error: "), err
    assert expected in err, err
    assert sorted(p.name for p in out.parent.iterdir()) == before  # nothing written
    return err


def test_empty_file(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    ex.calls.write_text("")
    _fails(
        capsys, ex.argv(tmp_path / "d.yaml"), "calls.csv: the file is empty", tmp_path / "d.yaml"
    )


def test_header_only(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    ex.calls.write_text("id,time,type,lat,lon\n")
    _fails(
        capsys,
        ex.argv(tmp_path / "d.yaml"),
        "no usable rows (the file has a header only)",
        tmp_path / "d.yaml",
    )


def test_no_usable_rows(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    ex.calls.write_text(
        "id,time,type,lat,lon\n1,yesterday,NOISE,22.8,108.3\n2,2024-01-01,NOISE,,\n"
    )
    _fails(
        capsys,
        ex.argv(tmp_path / "d.yaml"),
        "no usable rows (2 read: unparseable time 1, missing or invalid coordinates 1)",
        tmp_path / "d.yaml",
    )


def test_column_that_does_not_exist(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    out = tmp_path / "d.yaml"
    _fails(
        capsys,
        ex.argv(out, "--time-column", "when"),
        "no column 'when' (columns: id, time, type, lat, lon); name it with --time-column",
        out,
    )


def test_coordinates_all_outside_the_boundary(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    frame = pd.read_csv(ex.calls)
    frame["lat"] += 1.0  # 111 km north
    frame.to_csv(ex.calls, index=False)
    out = tmp_path / "d.yaml"
    _fails(
        capsys, ex.argv(out), "all 300 rows with usable coordinates fall outside the boundary", out
    )


def test_boundary_that_is_not_polygons(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    lines = tmp_path / "lines.geojson"
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[108.26, 22.87], [108.3, 22.8]]},
        "properties": {"name": "a"},
    }
    lines.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    out = tmp_path / "d.yaml"
    argv = ex.argv(out)
    argv[argv.index("--boundary") + 1] = str(lines)
    _fails(
        capsys, argv, "lines.geojson: feature 0 is a LineString, not a Polygon or MultiPolygon", out
    )


def test_boundary_that_is_not_json(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    out = tmp_path / "d.yaml"
    argv = ex.argv(out)
    argv[argv.index("--boundary") + 1] = str(bad)
    _fails(capsys, argv, "bad.geojson: not JSON (line 1", out)


def test_boundary_without_the_precinct_field(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    out = tmp_path / "d.yaml"
    _fails(
        capsys,
        ex.argv(out, "--precinct-field", "NAME"),
        "feature 0 has no property 'NAME' (its properties: code, name)",
        out,
    )


def test_type_map_that_maps_nothing(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    types = tmp_path / "types.yaml"
    types.write_text("noise: [LOUD]\n")
    out = tmp_path / "d.yaml"
    argv = ex.argv(out)
    argv[argv.index("--types") + 1] = str(types)
    _fails(capsys, argv, "types.yaml: maps none of the 5 call types in", out)


def test_empty_type_map(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    types = tmp_path / "types.yaml"
    types.write_text("{}\n")
    out = tmp_path / "d.yaml"
    argv = ex.argv(out)
    argv[argv.index("--types") + 1] = str(types)
    _fails(capsys, argv, "types.yaml: maps no call type", out)


def test_grid_too_large_names_cells_and_limit(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    out = tmp_path / "d.yaml"
    _fails(
        capsys,
        ex.argv(out, "--cell-size", "10"),
        "--cell-size 10: the area needs a 800 x 800 grid (640,000 cells), more than the limit "
        "of 4,096 cells; use --cell-size 130 or more",
        out,
    )


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--cell-size", "nan", "must be a positive number of metres"),
        ("--cell-size", "-400", "must be a positive number of metres"),
        ("--max-dropped", "1.5", "must be from 0 and at most 1"),
    ],
)
def test_bad_flag_values(gaoxin_export, tmp_path, capsys, flag, value, reason) -> None:
    ex = _small(gaoxin_export, tmp_path)
    out = tmp_path / "d.yaml"
    _fails(capsys, ex.argv(out, flag, value), reason, out)


def test_too_many_dropped_rows(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path, rows=100)
    frame = pd.read_csv(ex.calls)
    frame.loc[:9, "time"] = "not a time"
    frame.to_csv(ex.calls, index=False)
    out = tmp_path / "d.yaml"
    _fails(
        capsys,
        ex.argv(out, "--max-dropped", "0.05"),
        "--max-dropped 0.05: 10.0 % of the 100 rows were dropped (unparseable time 10)",
        out,
    )


def test_unknown_crs(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    out = tmp_path / "d.yaml"
    argv = ex.argv(out, "--x-column", "lon", "--y-column", "lat", "--crs", "EPSG:999999")
    _fails(capsys, argv, "--crs: unknown coordinate reference system 'EPSG:999999'", out)


def test_an_existing_file_that_is_not_an_import_is_kept(gaoxin_export, tmp_path, capsys) -> None:
    ex = _small(gaoxin_export, tmp_path)
    out = tmp_path / "d.yaml"
    out.write_text("name: mine\n")
    _fails(capsys, ex.argv(out), "exists and is not an imported district; not replacing it", out)
    assert out.read_text() == "name: mine\n"


def test_partly_bad_rows_are_counted_and_an_earlier_import_replaced(
    gaoxin_export, tmp_path
) -> None:
    ex = _small(gaoxin_export, tmp_path)
    frame = pd.read_csv(ex.calls)
    frame.loc[0:2, "time"] = "31/02/2024"  # 3 unparseable times
    frame.loc[3:6, "lat"] = None  # 4 missing coordinates
    frame.loc[7:11, "lon"] += 1.0  # 5 outside the boundary
    frame.loc[12:17, "type"] = "PARKING"  # 6 unmapped
    frame = pd.concat([frame, frame.iloc[20:22]])  # 2 duplicate ids
    frame.to_csv(ex.calls, index=False)
    out = tmp_path / "d.yaml"
    assert main(ex.argv(out)) == 0
    assert main(ex.argv(out, "--max-dropped", "0.07")) == 0  # 20 of 302 is 6.6 %: replaced
    fit = json.loads((tmp_path / "d_report" / "fit.json").read_text())
    assert fit["rows_read"] == 302 and fit["rows_used"] == 282
    assert fit["dropped"] == {
        "duplicate id": 2,
        "unparseable time": 3,
        "missing or invalid coordinates": 4,
        "outside the area": 5,
        "unmapped type": 6,
    }
    assert fit["unmapped_types"] == {"PARKING": 6}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
