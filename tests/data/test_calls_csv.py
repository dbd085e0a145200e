"""Reading a calls CSV: times, coordinates, duplicates and codes, without a district."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from patrolmarl.data.calls_csv import CallColumns, read_calls
from patrolmarl.data.type_map import read_type_map
from patrolmarl.errors import ConfigError, PatrolMarlError


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calls.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_iso_times_keep_their_wall_clock_and_bad_rows_are_counted(tmp_path) -> None:
    path = _csv(
        tmp_path,
        "\ufeffid,time,type,lat,lon\n"
        "1,2024-01-01T10:00:00+08:00, NOISE ,22.8,108.3\n"
        "1,2024-01-01T10:00:00,NOISE,22.8,108.3\n"
        "2,2024-01-01 11:30,Theft,22.8,108.3\n"
        "3,garbage,NOISE,22.8,108.3\n"
        "4,2024-01-02T00:15:00Z,NOISE,,108.3\n"
        "5,2024-01-02T00:15:00.5Z,NOISE,95,108.3\n"
        "6,2024-01-02T23:59:59.25-05:00,NOISE,22.8,north\n"
        "7,2024-01-03,HELP,22.8,108.3\n",
    )
    calls = read_calls(path, CallColumns(id="id"))
    assert calls.rows_read == 8
    assert dict(calls.dropped) == {
        "duplicate id": 1,
        "unparseable time": 1,
        "missing or invalid coordinates": 3,
    }
    np.testing.assert_array_equal(
        calls.time,
        np.array(["2024-01-01T10:00", "2024-01-01T11:30", "2024-01-03T00:00"], "datetime64[ns]"),
    )
    assert calls.type_names[calls.type_code].tolist() == ["NOISE", "Theft", "HELP"]


def test_a_time_format(tmp_path) -> None:
    path = _csv(tmp_path, "time,type,lat,lon\n05/03/2024 21:07,A,1,2\n2024-03-05 21:07,A,1,2\n")
    calls = read_calls(path, CallColumns(time_format="%d/%m/%Y %H:%M"))
    assert calls.time.tolist() == [np.datetime64("2024-03-05T21:07", "ns").item()]
    assert calls.dropped["unparseable time"] == 1


def test_a_ragged_csv_is_one_line(tmp_path) -> None:
    path = _csv(tmp_path, "time,type,lat,lon\n2024-01-01,A,1,2\n2024-01-01,A\n")
    with pytest.raises(PatrolMarlError, match=r"calls.csv: not a readable CSV \(CSV parse error"):
        read_calls(path, CallColumns())


def test_type_patterns_match_case_insensitively_first_entry_wins(tmp_path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text('noise: ["NOISE*", loud music]\ntheft:\n  match: ["*THEFT*"]\n  priority: 2\n'
                    'help: ["*"]\n')  # fmt: skip
    types = read_type_map(path)
    got = types.classify(np.array(["Noise complaint", "LOUD MUSIC", "bike theft", "x", ""]))
    assert [types.names[i] if i >= 0 else None for i in got] == [
        "noise", "noise", "theft", "help", "help",
    ]  # fmt: skip
    theft = types.settings[types.names.index("theft")]
    assert theft["priority"] == 2 and theft["deterrable"] is True  # the built-in theft's default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("noise: 3\n", "types.yaml: noise: Input should be a valid dictionary"),
        ("noise: {match: [a], colour: 2}\n", r"types.yaml:1:21: noise.colour: unknown field"),
        ("noise: []\n", "types.yaml: noise.match: List should have at least 1 item"),
        ("compound: [a]\n", "no call type has handler 'patrol'"),
        ("noise: {match: [a], closure_prob: 2}\n", "noise.closure_prob: Input should be less"),
    ],
)
def test_bad_type_maps(tmp_path, text, message) -> None:
    path = tmp_path / "types.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_type_map(path)
