"""``patrolmarl district import``: a calibrated district and its fit report from a planner's data.

The steps: read the type map, boundary and calls; lay the grid over the
boundary (or the calls' extent); drop and count bad rows; give each cell its
precinct; fit each call type's rate, hourly profile and spatial intensity;
take road speeds, stations and units; validate the district as the loader
would; then write the district file and its report folder together, or nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy import ndimage

from patrolmarl.data.boundary import Boundary, inside_mask, precinct_of_cells, read_boundary
from patrolmarl.data.calibration import TypeFit, fit_type
from patrolmarl.data.calls_csv import (
    DROP_REASONS,
    OUTSIDE,
    UNMAPPED,
    CallColumns,
    Calls,
    read_calls,
)
from patrolmarl.data.district_writer import HEADER, district_mapping, district_yaml
from patrolmarl.data.fit_report import REPORT_NAME, is_report_folder, write_report
from patrolmarl.data.fleet import PRECINCT_CODES, read_fleet, read_stations
from patrolmarl.data.grid import Grid, grid_over
from patrolmarl.data.roads import DEFAULT_KMH, road_speed_of_cells, speed_bands
from patrolmarl.data.temporal import day_numbers, hours_of_day
from patrolmarl.data.type_map import TypeMap, read_type_map
from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.district import District
from patrolmarl.errors import PatrolMarlError
from patrolmarl.output_folder import check_replaceable, staged_folder

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FENCE_IQR = 3.0  # without a boundary, calls beyond 3 interquartile ranges are out of the area


@dataclass(frozen=True)
class ImportOptions:
    """What to import and where to write it (the command's options)."""

    calls: Path
    types: Path
    out: Path
    cell_size_m: float = 400.0
    columns: CallColumns = field(default_factory=CallColumns)
    boundary: Path | None = None
    precinct_field: str = "name"
    stations: Path | None = None
    units: Path | None = None
    roads: Path | None = None
    max_dropped: float | None = None
    name: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class ImportResult:
    """The written district and report, and the figures behind them."""

    district_path: Path
    report_dir: Path
    district: District
    rows_read: int
    dropped: Counter
    unmapped: Counter
    fits: list[TypeFit]
    n_days: int

    @property
    def rows_used(self) -> int:
        """Rows that became calls of the district."""
        return self.rows_read - sum(self.dropped.values())


def report_dir_of(out: Path) -> Path:
    """The report folder beside a district file: ``mycity.yaml`` -> ``mycity_report/``."""
    return out.with_name(f"{out.stem}_report")


def import_district(opts: ImportOptions) -> ImportResult:
    """Build, validate and write a district file and its fit report.

    Raises
    ------
    PatrolMarlError
        One line for any unusable input; nothing is written then.
    """
    _require_extra()
    out = Path(opts.out)
    report_dir = report_dir_of(out)
    _check_out(out, report_dir)
    if opts.max_dropped is not None and not 0.0 <= opts.max_dropped <= 1.0:
        raise PatrolMarlError(f"--max-dropped: must be a share from 0 to 1, got {opts.max_dropped}")
    type_map = read_type_map(opts.types)
    boundary = None if opts.boundary is None else read_boundary(opts.boundary, opts.precinct_field)
    if boundary is not None:  # a grid too large fails before a million rows are read
        grid = grid_over(*boundary.bounds(), opts.cell_size_m, margin_m=0.0)
    calls = read_calls(opts.calls, opts.columns)
    _need_rows(calls, opts.calls)
    if boundary is None:
        calls.keep(_within_fence(calls.lon) & _within_fence(calls.lat), OUTSIDE)
        grid = grid_over(
            calls.lon.min(), calls.lat.min(), calls.lon.max(), calls.lat.max(),
            opts.cell_size_m, margin_m=opts.cell_size_m,
        )  # fmt: skip
    _keep_inside(calls, grid, boundary, opts)
    type_index, unmapped = _keep_mapped(calls, type_map, opts)
    _check_dropped(calls, opts.max_dropped)

    cell = grid.cell_of(*grid.projection.to_metres(calls.lon, calls.lat))
    if boundary is not None:
        precinct, area = precinct_of_cells(grid, boundary)
        names = boundary.names
    else:
        precinct, names = _precincts_from_calls(calls, cell, grid)
        area = np.ones(grid.n_cells, dtype=bool)
    precinct, names = _drop_empty_precincts(precinct, names)

    day, n_days = day_numbers(calls.time)
    hour = hours_of_day(calls.time)
    shape = (grid.rows, grid.cols)
    fits = [
        fit_type(name, cell[sel], day[sel], hour[sel], calls.time[sel], n_days, area, shape)
        for t, name in enumerate(type_map.names)
        if (sel := type_index == t).any()
    ]
    settings = dict(zip(type_map.names, type_map.settings, strict=True))
    if not any(settings[f.name]["handler"] == "patrol" for f in fits):
        raise PatrolMarlError(
            f"--types {opts.types}: no call of a patrol-handled type is left to fit"
        )

    land_use, land_uses = _land_uses(opts.roads, grid)
    stations = [] if opts.stations is None else read_stations(opts.stations, grid, precinct, names)
    fleet = read_fleet(opts.units, names, stations)
    first, last = calls.time.min().astype("datetime64[D]"), calls.time.max().astype("datetime64[D]")
    description = (
        f"Imported from {Path(opts.calls).name}: {len(calls):,} calls over {n_days} days "
        f"({first} to {last})."
    )
    mapping = district_mapping(
        opts.name or out.stem,
        description,
        grid,
        land_use,
        land_uses,
        np.array(list(PRECINCT_CODES))[precinct],
        fleet,
        fits,
        settings,
    )
    district = District.from_config(validate_district_dict(mapping, str(out)))
    notes = [
        f"from {opts.calls} with {opts.types}; fit report: {report_dir.name}/{REPORT_NAME}",
        f"{grid.rows} x {grid.cols} cells of {grid.cell_size_m:g} m; origin = north-west corner",
    ]
    text = district_yaml(mapping, notes, fleet.is_default)
    result = ImportResult(
        out, report_dir, district, calls.rows_read, calls.dropped, unmapped, fits, n_days
    )
    _write(result, text, opts, grid, area)
    return result


def _keep_inside(calls: Calls, grid: Grid, boundary: Boundary | None, opts: ImportOptions) -> None:
    """Drop the calls off the grid or outside the boundary; refuse if none is left."""
    x, y = grid.projection.to_metres(calls.lon, calls.lat)
    inside = grid.cell_of(x, y) >= 0
    if boundary is not None:
        inside &= inside_mask(x, y, grid, boundary)
    if not inside.any():
        raise PatrolMarlError(
            f"--calls {opts.calls}: all {len(calls):,} rows with usable coordinates fall "
            f"outside the boundary {opts.boundary} (check --lat-column/--lon-column or --crs)"
        )
    calls.keep(inside, OUTSIDE)


def _keep_mapped(
    calls: Calls, type_map: TypeMap, opts: ImportOptions
) -> tuple[np.ndarray, Counter]:
    """Drop the calls of unmapped types: each kept call's type index, and the unmapped counts."""
    type_index = type_map.classify(calls.type_names)[calls.type_code]
    mapped = type_index >= 0
    counts = np.bincount(calls.type_code[~mapped], minlength=calls.type_names.size)
    unmapped = Counter({str(calls.type_names[i]): int(n) for i, n in enumerate(counts) if n})
    if not mapped.any():
        common = ", ".join(f"{t!r} ({n:,})" for t, n in unmapped.most_common(5))
        raise PatrolMarlError(
            f"--types {opts.types}: maps none of the {len(unmapped):,} call types in "
            f"{opts.calls} (most common: {common})"
        )
    calls.keep(mapped, UNMAPPED)
    return type_index[mapped], unmapped


def _require_extra() -> None:
    """One line, not a traceback, when the optional ``data`` extra is not installed."""
    import importlib.util

    for module in ("pandas", "pyarrow", "pyproj", "shapely"):
        if importlib.util.find_spec(module) is None:
            raise PatrolMarlError(
                f"district import needs {module}: pip install -c constraints.txt -e '.[data]'"
            )


def _check_out(out: Path, report_dir: Path) -> None:
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise PatrolMarlError(f"--out {out}: a district file ends in .yaml or .yml")
    if out.exists():
        if not out.is_file() or not _is_imported(out):
            raise PatrolMarlError(
                f"--out {out}: exists and is not an imported district; not replacing it"
            )
    try:
        check_replaceable(report_dir.absolute(), "import report", is_report_folder)
    except FileExistsError as exc:
        raise PatrolMarlError(f"--out: {exc}") from None


def _is_imported(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == HEADER
    except (OSError, UnicodeDecodeError):
        return False


def _need_rows(calls: Calls, path: Path) -> None:
    if len(calls) == 0:
        raise PatrolMarlError(
            f"--calls {path}: no usable rows ({calls.rows_read:,} read: {_reasons(calls.dropped)})"
        )


def _reasons(dropped: Counter) -> str:
    return ", ".join(f"{reason} {dropped[reason]:,}" for reason in DROP_REASONS if dropped[reason])


def _check_dropped(calls: Calls, max_dropped: float | None) -> None:
    share = 1.0 - len(calls) / calls.rows_read
    if max_dropped is not None and share > max_dropped:
        raise PatrolMarlError(
            f"--max-dropped {max_dropped:g}: {100 * share:.1f} % of the {calls.rows_read:,} rows "
            f"were dropped ({_reasons(calls.dropped)})"
        )


def _within_fence(values: np.ndarray) -> np.ndarray:
    q1, q3 = np.quantile(values, [0.25, 0.75])
    spread = FENCE_IQR * (q3 - q1)
    return (values >= q1 - spread) & (values <= q3 + spread)


def _precincts_from_calls(calls: Calls, cell: np.ndarray, grid: Grid) -> tuple[np.ndarray, tuple]:
    """Each cell's most frequent precinct among its calls; cells without calls take the nearest."""
    if calls.precinct_code is None or calls.precinct_names is None:
        return np.zeros(grid.n_cells, dtype=np.int64), ("district",)
    nonempty = np.flatnonzero(calls.precinct_names != "")
    remap = np.full(calls.precinct_names.size, -1, dtype=np.int64)
    remap[nonempty] = np.arange(nonempty.size)
    codes = remap[calls.precinct_code]
    named = codes >= 0
    codes, names = codes[named], calls.precinct_names[nonempty]
    if names.size == 0:
        raise PatrolMarlError("--precinct-column: every row's precinct is empty")
    counts = np.bincount(cell[named] * names.size + codes, minlength=grid.n_cells * names.size)
    counts = counts.reshape(grid.n_cells, names.size)
    has = counts.sum(axis=1) > 0
    precinct = counts.argmax(axis=1).reshape(grid.rows, grid.cols)
    _, (r, c) = ndimage.distance_transform_edt(
        ~has.reshape(grid.rows, grid.cols), return_indices=True
    )
    return precinct[r, c].ravel(), tuple(names.tolist())


def _drop_empty_precincts(precinct: np.ndarray, names: tuple) -> tuple[np.ndarray, tuple]:
    """Renumber precincts to those that hold a cell (a polygon smaller than a cell may not)."""
    used, renumbered = np.unique(precinct, return_inverse=True)
    if used.size > len(PRECINCT_CODES):
        raise PatrolMarlError(
            f"{used.size} precincts: the district format has codes for {len(PRECINCT_CODES)}"
        )
    return renumbered.astype(np.int64), tuple(names[i] for i in used)


def _land_uses(roads: Path | None, grid: Grid) -> tuple[np.ndarray, dict]:
    """Each cell's land-use code and the classes: one default street, or road-speed bands."""
    if roads is None:
        land_use = np.full(grid.n_cells, "S")
        return land_use, {
            "S": {"name": "street", "road_speed_kmh": DEFAULT_KMH, "street_traffic": 1.0}
        }
    codes, bands = speed_bands(road_speed_of_cells(roads, grid))
    return codes, {
        code: {"name": f"roads_{kmh:g}kmh", "road_speed_kmh": kmh, "street_traffic": 1.0}
        for code, kmh in bands.items()
    }


def _write(
    result: ImportResult, text: str, opts: ImportOptions, grid: Grid, area: np.ndarray
) -> None:
    """The report folder and the district file, together: the file is renamed in last."""
    out = result.district_path
    out.parent.mkdir(parents=True, exist_ok=True)
    staged_file = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with staged_folder(result.report_dir, "import report", is_report_folder) as folder:
            write_report(folder, result, grid, area, opts.seed)
            staged_file.write_text(text, encoding="utf-8")
            yaml.load(staged_file.read_text(encoding="utf-8"), Loader=_LOADER)  # it reads back
        os.replace(staged_file, out)
    finally:
        staged_file.unlink(missing_ok=True)
