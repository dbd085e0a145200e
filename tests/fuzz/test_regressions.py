"""One regression case per bad input of issue 9 ("Bad input") and issue 17 (items 4, 13, 14).

Each asserts the one error line names the file and the field (or the file's
problem) and what is wrong.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from patrolmarl.advise.validation import (
    MAX_LISTED_PROBLEMS,
    MAX_SNAPSHOT_ENTRIES,
    SnapshotError,
    read_snapshot,
    snapshot_schema,
)
from patrolmarl.agents.beat_plan import load_beat_plan
from patrolmarl.agents.fixed_zones import fixed_zone_beats
from patrolmarl.cli import main
from patrolmarl.envs.config import (
    MAX_CALLS_PER_DAY,
    MAX_GRID_CELLS,
    load_district_config,
    resolve_district_path,
    validate_district_dict,
)
from patrolmarl.envs.district import District
from patrolmarl.errors import MAX_PART_CHARS, ConfigError, PatrolMarlError
from patrolmarl.training.config import load_train_config
from patrolmarl.yaml_config import read_yaml_mapping

REPO = Path(__file__).resolve().parents[2]
GAOXIN = read_yaml_mapping(resolve_district_path("gaoxin"))
SNAPSHOT = json.loads((REPO / "schemas" / "snapshot.example.json").read_text())


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """Set the dotted ``path`` (list indices allowed) of a district dict."""

    def change(raw: dict) -> None:
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[int(last) if isinstance(node, list) else last] = value

    return change


def _all_rates_zero(raw: dict) -> None:
    for call_type in raw["call_types"].values():
        call_type["daily_rate"] = 0


def _square_grid(side: int, count: int = 2) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        raw.update(
            land_use_map="\n".join(["S" * side] * side),
            precinct_map="\n".join(["1" * side] * side),
            precincts={"1": {"name": "only"}},
            stations=[],
            units=[{"count": count, "vehicle": "e_bike", "precinct": "1"}],
        )
        for call_type in raw["call_types"].values():
            call_type["hotspots"] = []

    return change


def _rename(section: str, old: str, new: str) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        node = raw["call_types"][section]
        node[new] = node.pop(old)

    return change


def _duplicate_station(raw: dict) -> None:
    raw["stations"].append(dict(raw["stations"][0]))


INF, NAN = float("inf"), float("nan")
# name -> (change to the gaoxin dict, pieces of the error line after "FILE: ")
DISTRICT_CASES = {
    "daily_rate inf": (
        _set("call_types.noise.daily_rate", INF),
        ["call_types.noise.daily_rate", "finite"],
    ),
    "daily_rate 1e300": (
        _set("call_types.noise.daily_rate", 1e300),
        ["call_types.noise.daily_rate", f"less than or equal to {MAX_CALLS_PER_DAY}"],
    ),
    "noise daily_rate 1e6": (
        _set("call_types.noise.daily_rate", 1e6),
        ["call_types.noise.daily_rate", "less than or equal"],
    ),
    "rates over the daily limit together": (
        lambda raw: [ct.update(daily_rate=MAX_CALLS_PER_DAY) for ct in raw["call_types"].values()],
        ["call_types", "calls a day", f"limit of {MAX_CALLS_PER_DAY}"],
    ),
    "every daily_rate 0": (_all_rates_zero, ["call_types", "daily_rate 0"]),
    "hotspot multiplier inf": (
        _set("call_types.theft.hotspots.0.multiplier", INF),
        ["call_types.theft.hotspots.0.multiplier", "finite"],
    ),
    "service mean 1e-300": (
        _set("call_types.noise.service.mean", 1e-300),
        ["call_types.noise.service.mean", "greater than or equal to 0.1"],
    ),
    "lognormal sd 1e300": (
        _set("call_types.noise.service.sd", 1e300),
        ["call_types.noise.service.sd", "less than or equal to 1440"],
    ),
    "hourly_profile with inf": (
        _set("call_types.noise.hourly_profile.3", INF),
        ["call_types.noise.hourly_profile.3", "finite"],
    ),
    "episode_minutes inf": (
        _set("simulation.episode_minutes", INF),
        ["simulation.episode_minutes", "finite"],
    ),
    "episode_minutes 1e7": (
        _set("simulation.episode_minutes", 1e7),
        ["simulation.episode_minutes", "less than or equal to 10080"],
    ),
    "step_minutes 0.001": (
        _set("simulation.step_minutes", 0.001),
        ["simulation.step_minutes", "steps per episode", "limit of 20160"],
    ),
    "visible_radius_cells 1e9": (
        _set("simulation.visible_radius_cells", 10**9),
        ["simulation.visible_radius_cells", "less than or equal to 16"],
    ),
    "observed_calls 1e9": (
        _set("simulation.observed_calls", 10**9),
        ["simulation.observed_calls", "less than or equal to 64"],
    ),
    "responders 1e9": (
        _set("precincts.1.responders", 10**9),
        ["precincts.1.responders", "less than or equal to 100"],
    ),
    "units count 1e9": (_set("units.0.count", 10**9), ["units.0.count", "less than or equal"]),
    "1x1 grid with 2000 units": (_square_grid(1, 2000), ["units.0.count", "less than or equal"]),
    "200x200 grid": (_square_grid(200), ["land_use_map", "40000 cells", f"{MAX_GRID_CELLS}"]),
    "60x60 grid with 14 units": (
        lambda raw: _square_grid(60, 14)(raw),
        ["units", "travel tables", "(units + vehicle types) x cells^2"],
    ),
    "cell_size_m inf": (_set("cell_size_m", INF), ["cell_size_m", "finite"]),
    "cell_size_m nan": (_set("cell_size_m", NAN), ["cell_size_m", "finite"]),
    "cell_size_m 1e9": (_set("cell_size_m", 1e9), ["cell_size_m", "less than or equal"]),
    "cell_size_m true": (_set("cell_size_m", True), ["cell_size_m", "valid number", "True"]),
    "origin.lat true": (_set("origin.lat", True), ["origin.lat", "valid number", "True"]),
    "a number as a string": (_set("cell_size_m", "5"), ["cell_size_m", "valid number", "'5'"]),
    "count as a string": (_set("units.0.count", "5"), ["units.0.count", "valid integer"]),
    "count as yes": (_set("units.0.count", True), ["units.0.count", "valid integer", "True"]),
    "deterrable as 1": (
        _set("call_types.theft.deterrable", 1),
        ["call_types.theft.deterrable", "valid boolean"],
    ),
    "duplicate station names": (_duplicate_station, ["stations.2.name", "named twice"]),
    "misspelt daily_rates": (
        _rename("noise", "daily_rate", "daily_rates"),
        ["call_types.noise.daily_rate", "Field required", "'daily_rates'"],
    ),
}


def _write_district(tmp_path: Path, change: Callable[[dict], None]) -> Path:
    raw = copy.deepcopy(GAOXIN)
    change(raw)
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _error_line(call: Callable[[], Any]) -> str:
    with pytest.raises(PatrolMarlError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message, message
    return message


@pytest.mark.parametrize("case", sorted(DISTRICT_CASES))
def test_bad_district_values(tmp_path, case):
    change, pieces = DISTRICT_CASES[case]
    path = _write_district(tmp_path, change)
    message = _error_line(lambda: load_district_config(path))
    # The line points at the offending key: file:line:column.
    assert re.match(re.escape(str(path)) + r":\d+:\d+: ", message), message
    for piece in pieces:
        assert piece in message, (piece, message)


YAML_CASES = {
    "duplicate key": ("name: a\ncell_size_m: 400\nname: b\n", ":3:1", "'name' given twice"),
    "duplicate nested key": (
        "precincts:\n  '1': {name: a}\n  '1': {name: b}\n",
        ":3:3",
        "'1' given twice (first at line 2)",
    ),
    "nested 1,000 deep": ("[" * 1_000 + "]" * 1_000, ":1:", "nested more than 64 levels"),
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, ":1:", "nested more than 64"),
    "indentation slip": ("name: a\n  cell_size_m: 400\n", ":2:14", "malformed YAML"),
    "alias bomb": (
        "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, n in zip("abcdef", "bcdefg", strict=True)
        ),
        ":",
        "aliases expand to more than",
    ),
    "recursive alias": ("a: &a [*a]\n", ":1:", "refers to the value that contains it"),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_bad_yaml_names_file_line_column(tmp_path, case):
    text, position, piece = YAML_CASES[case]
    path = tmp_path / "district.yaml"
    path.write_text(text, encoding="utf-8")
    message = _error_line(lambda: load_district_config(path))
    assert message.startswith(f"{path}{position}"), message
    assert piece in message, message


def test_exponent_numbers_are_numbers(tmp_path):
    path = _write_district(tmp_path, lambda raw: None)
    path.write_text(path.read_text().replace("cell_size_m: 400", "cell_size_m: 4e2"))
    assert load_district_config(path).cell_size_m == 400.0


def _paths(tmp_path: Path) -> dict[str, Path]:
    regular = tmp_path / "regular.yaml"
    regular.write_text("name: x\n")
    loop = tmp_path / "loop.yaml"
    os.symlink(loop, loop)
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    return {
        "a path under a regular file": regular / "district.yaml",
        "a 300-character file name": tmp_path / ("d" * 300 + ".yaml"),
        "a symlink to itself": loop,
        "a named pipe nobody writes to": pipe,
        "a folder": tmp_path,
    }


PATH_REASONS = {
    "a path under a regular file": "a part of the path is a file, not a folder",
    "a 300-character file name": "file name too long",
    "a symlink to itself": "symbolic links",
    "a named pipe nobody writes to": "not a regular file (a named pipe)",
    "a folder": "not a regular file (a folder)",
}


@pytest.mark.parametrize("case", sorted(PATH_REASONS))
def test_unreadable_paths_for_every_reader(tmp_path, case):
    path = _paths(tmp_path)[case]
    gaoxin = District.load("gaoxin")
    readers = {
        "district": lambda: load_district_config(path),
        "training config": lambda: load_train_config(path),
        "beat plan": lambda: load_beat_plan(path, gaoxin),
        "snapshot": lambda: read_snapshot(path, gaoxin),
    }
    for reader in readers.values():
        message = _error_line(reader)
        assert PATH_REASONS[case] in message, message


def test_empty_district_name_via_cli(capsys):
    assert main(["simulate", "--district", ""]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("patrolmarl: error: ''"), err
    assert "empty district name" in err and "gaoxin" in err and "IsADirectory" not in err


def test_huge_value_is_truncated_in_the_error_line():
    raw = copy.deepcopy(GAOXIN)
    raw["units"][0]["vehicle"] = "x" * 20_000_000
    message = _error_line(lambda: validate_district_dict(raw, "<big>"))
    assert message.startswith("<big>: units.0.vehicle: unknown vehicle 'xxx")
    assert len(message) < 150, len(message)
    raw = copy.deepcopy(GAOXIN)
    raw["y" * 20_000_000] = 1
    assert len(_error_line(lambda: validate_district_dict(raw, "<big>"))) < 2 * MAX_PART_CHARS


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: '" + "x" * 20_000_000 + "'\n")
    assert "more than the limit of" in _error_line(lambda: load_district_config(path))


def test_a_precinct_with_fewer_cells_than_units_gets_shared_beats():
    """A 1x1 grid with 200 units (issue 9 crashed in fixed_zone_beats): each unit the cell."""
    raw = copy.deepcopy(GAOXIN)
    _square_grid(1, 200)(raw)
    district = District.from_config(validate_district_dict(raw, "<1x1>"))
    beats = fixed_zone_beats(district, district.street_traffic)
    assert beats.shape == (200, 1) and beats.all()


# ---------------------------------------------------------------------------- training
TRAIN_CASES = {
    "infinite learning rate": ("ppo:\n  learning_rate: .inf\n", "ppo.learning_rate", "finite"),
    "NaN coefficient": ("ppo:\n  ent_coef: .nan\n", "ppo.ent_coef", "finite"),
    "yes as a count": ("n_districts: yes\n", "n_districts", "valid integer"),
    "string timesteps": ("total_timesteps: '5'\n", "total_timesteps", "valid integer"),
    "seed beyond 2^32": ("seed: 4294967296\n", "seed", "less than or equal"),
    "duplicate key": ("seed: 1\nseed: 2\n", "", "'seed' given twice"),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_bad_training_values(tmp_path, case):
    text, field, piece = TRAIN_CASES[case]
    path = tmp_path / "train.yaml"
    path.write_text(text)
    message = _error_line(lambda: load_train_config(path))
    assert field in message and piece in message, message


# ---------------------------------------------------------------------------- snapshots
def _snapshot_problems(tmp_path: Path, change: Callable[[dict], None]) -> list[str]:
    doc = copy.deepcopy(SNAPSHOT)
    change(doc)
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError) as info:
        read_snapshot(path, District.load("gaoxin"))
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


SNAPSHOT_CASES = {
    "units null": (lambda s: s.update(units=None), "units: is null"),
    "calls null": (lambda s: s.update(calls=None), "calls: is null"),
    "call type a list": (lambda s: s["calls"][0].update(type=["noise"]), "calls[0].type: expected"),
    "call type an object": (lambda s: s["calls"][0].update(type={"a": 1}), "calls[0].type:"),
    "units not a list": (lambda s: s.update(units=5), "units: expected a list, got 5"),
    "age beyond a week": (
        lambda s: s["calls"][0].update(age_minutes=1e300),
        "calls[0].age_minutes: 1e+300 is more than 10080",
    ),
}


@pytest.mark.parametrize("case", sorted(SNAPSHOT_CASES))
def test_snapshot_type_mistakes_are_listed(tmp_path, case):
    change, piece = SNAPSHOT_CASES[case]
    problems = _snapshot_problems(tmp_path, change)
    assert any(line.startswith(piece) for line in problems), problems


def test_snapshot_duplicate_ids_are_listed_and_capped(tmp_path):
    limit = MAX_SNAPSHOT_ENTRIES["calls"]
    call = {"id": 1, "cell": [0, 0], "type": "noise", "age_minutes": 1}
    problems = _snapshot_problems(tmp_path, lambda s: s.update(calls=[call] * limit))
    assert problems[0] == "calls[1].id: id 1 is used twice"
    assert len(problems) == MAX_LISTED_PROBLEMS + 1
    assert problems[-1] == f"and {limit - 1 - MAX_LISTED_PROBLEMS} more problems"
    problems = _snapshot_problems(tmp_path, lambda s: s.update(calls=[call] * (limit + 1)))
    assert problems == [f"calls: {limit + 1} entries, more than the limit of {limit}"]


def test_snapshot_limits_match_the_schema():
    properties = snapshot_schema()["properties"]
    assert {key: properties[key]["maxItems"] for key in MAX_SNAPSHOT_ENTRIES} == (
        MAX_SNAPSHOT_ENTRIES
    )


def test_config_error_is_one_line_whatever_the_field():
    assert "\n" not in str(ConfigError("a\nb", "c\nd", "e\nf"))
