"""The imported district as a district file: a mapping the loader validates, and its YAML text."""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from patrolmarl.data.calibration import TypeFit
from patrolmarl.data.fleet import Fleet
from patrolmarl.data.grid import Grid

# The first line of every imported district file: an import may replace a file that has it.
HEADER = "# District imported by `patrolmarl district import`"


def district_mapping(
    name: str,
    description: str,
    grid: Grid,
    land_use_of_cell: np.ndarray,
    land_uses: dict[str, dict[str, Any]],
    precinct_of_cell: np.ndarray,
    fleet: Fleet,
    fits: list[TypeFit],
    settings: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The district file's fields; ``precinct_of_cell`` and ``land_use_of_cell`` hold map codes."""
    lon0, lat0 = grid.projection.lon0, grid.projection.lat0
    call_types = {}
    for fit in fits:
        intensity = fit.intensity.reshape(grid.rows, grid.cols)
        call_types[fit.name] = {
            "daily_rate": _round(fit.daily_rate),
            "hourly_profile": [_round(100.0 * s) for s in fit.hourly_share],
            "cell_intensity": [[_round(v) for v in row] for row in intensity],
            **settings[fit.name],
        }
    return {
        "name": name,
        "description": description,
        "cell_size_m": grid.cell_size_m,
        "origin": {"lat": round(lat0, 7), "lon": round(lon0, 7)},
        "land_use_map": _map_rows(land_use_of_cell, grid),
        "precinct_map": _map_rows(precinct_of_cell, grid),
        "land_uses": land_uses,
        "precincts": fleet.precincts,
        "stations": fleet.stations,
        "vehicles": fleet.vehicles,
        "units": fleet.units,
        "call_types": call_types,
    }


def district_yaml(mapping: dict[str, Any], notes: list[str], default_fleet: bool) -> str:
    """YAML text of a district mapping: maps as text blocks, number rows on one line each."""
    text = yaml.dump(mapping, Dumper=_Dumper, sort_keys=False, width=1 << 20, allow_unicode=True)
    lines = [HEADER, *(f"# {note}" for note in notes)]
    if default_fleet:
        text = text.replace(
            "\nvehicles:",
            "\n# A default fleet (no --units file): 2 patrol cars per precinct and 2 precinct\n"
            "# responders each. Edit these sections to your own, or import with --units.\n"
            "vehicles:",
            1,
        )
    text = text.replace(
        "\ncall_types:",
        "\n# Fitted from the calls: daily_rate in calls a day, hourly_profile in % of the day's\n"
        "# calls, cell_intensity in expected calls a day per cell (rows x cols, north row first).\n"
        "call_types:",
        1,
    )
    return "\n".join(lines) + "\n" + text


def _map_rows(codes: np.ndarray, grid: Grid) -> str:
    return "\n".join("".join(row) for row in np.asarray(codes).reshape(grid.rows, grid.cols)) + "\n"


def _round(value: float) -> float:
    """Four significant digits: plenty for weights, and a file a planner can read."""
    return float(f"{float(value):.4g}")


class _Dumper(yaml.SafeDumper):
    """Text blocks for multi-line strings; a list of scalars, or a mapping of scalars and such
    lists, on one line; nested rows one per line."""


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list):
    flow = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, value: dict):
    flat = all(
        not isinstance(v, dict)
        and not (isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v))
        for v in value.values()
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flat)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)
