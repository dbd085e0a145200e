"""The response-theft frontier: its bounds, the sweep, the answer, the folder, labels, the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from patrolmarl.agents.theft_posts import PostProblem, minutes_per_hour, parked_presence
from patrolmarl.cli import main
from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation import figures, plots
from patrolmarl.evaluation.frontier import (
    REFERENCE_POLICIES,
    Frontier,
    run_frontier,
    sweep_specs,
    write_frontier,
)
from patrolmarl.evaluation.limits import presence_cap, theft_bound

LAMBDAS = (0.0, 500.0)


def _tiny_district() -> District:
    """A 6 x 6 one-precinct district with 3 units and a theft hot spot away from the calls."""
    raw = {
        "name": "tiny",
        "cell_size_m": 400,
        "land_use_map": ["SSSRRR", "SSSRRR", "AAAAAA", "SSSRRR", "SSSRRR", "SSSRRR"],
        "precinct_map": ["111111"] * 6,
        "land_uses": {
            "S": {"name": "street", "road_speed_kmh": 25, "street_traffic": 2.0},
            "A": {"name": "arterial", "road_speed_kmh": 40, "street_traffic": 3.0},
            "R": {"name": "residential", "road_speed_kmh": 15, "street_traffic": 0.5},
        },
        "precincts": {"1": {"name": "all"}},
        "stations": [{"name": "kiosk", "cell": [2, 2], "precincts": ["1"]}],
        "vehicles": {"car": {"max_speed_kmh": 30}, "bike": {"max_speed_kmh": 18}},
        "units": [
            {"count": 2, "vehicle": "car", "precinct": "1"},
            {"count": 1, "vehicle": "bike", "station": "kiosk"},
        ],
        "call_types": {
            "noise": {
                "daily_rate": 200,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0, "A": 0.5},
                "service": {"dist": "exponential", "mean": 15},
                "closure_prob": 0.9,
            },
            "theft": {
                "daily_rate": 150,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"R": 1.0},
                "service": {"dist": "fixed", "mean": 10},
                "closure_prob": 0.8,
                "deterrable": True,
            },
        },
        "simulation": {"episode_minutes": 120},
    }
    return District.from_config(validate_district_dict(raw, "<test>"))


def test_theft_bound_is_below_any_parked_fleet_and_above_the_floor() -> None:
    district = _tiny_district()
    incidents = IncidentModel(district)
    bound = theft_bound(district, incidents)
    minutes = minutes_per_hour(district)
    assert minutes.sum() == district.config.simulation.episode_minutes
    assert set(bound.hours) == set(np.flatnonzero(minutes > 0).tolist())
    floor = (1 - district.config.deterrence.max_reduction) * bound.undeterred_per_day
    assert floor <= bound.per_day <= bound.relaxation_per_day < bound.undeterred_per_day
    assert bound.worst_relative_gap < 1e-5
    assert presence_cap(district) == pytest.approx(district.n_units * parked_presence(district))
    rng = np.random.default_rng(0)
    for _ in range(20):  # parked fleets are feasible presence fields: never below the bound
        sites = rng.integers(0, district.n_cells, size=district.n_units)
        thefts = sum(
            minutes[h] / 60.0 * PostProblem.for_hour(district, incidents, h, 1.0).thefts(sites)
            for h in bound.hours
        )
        assert thefts >= bound.per_day


@pytest.fixture(scope="module")
def frontier() -> Frontier:
    return run_frontier(_tiny_district(), [], days=2, seed=0, lambdas=LAMBDAS, resamples=200)


def test_every_policy_on_the_same_days_with_both_bounds(frontier: Frontier) -> None:
    ev = frontier.evaluation
    names = [r.name for r in ev.results]
    assert names == [*REFERENCE_POLICIES, *sweep_specs(LAMBDAS)]
    assert sweep_specs(LAMBDAS)[:2] == ["pmedian_theft:theft=0", "pmedian_theft:theft=500"]
    assert all(len(r.records) == 2 for r in ev.results)
    assert 0 < frontier.theft_lower_bound == ev.limit["theft_lower_bound"]
    assert 0 < ev.limit["travel_lower_bound"]
    for lam, day in frontier.posts.items():
        assert lam in LAMBDAS
        assert day["lower_bound"] <= day["objective"] + 1e-9
    # The theft-minded posts trade response minutes for thefts (expected, all parked).
    assert frontier.posts[500.0]["thefts"] < frontier.posts[0.0]["thefts"]
    assert frontier.posts[500.0]["response_minutes"] > frontier.posts[0.0]["response_minutes"]


def test_the_answer_follows_both_intervals(frontier: Frontier) -> None:
    rows = frontier.rows()
    for row in rows:
        highs = (row["response_vs_fixed_zone"]["ci_high"], row["thefts_vs_fixed_zone"]["ci_high"])
        both = all(high is not None and high < 0 for high in highs)
        assert row["better_on_both"] == (both and row["policy"] != "fixed_zone")
    winner = frontier.evaluation.results[1]
    saved = winner.vs_baseline
    winner.vs_baseline = {
        **saved,
        "response_mean": {**saved["response_mean"], "ci_low": -2.0, "ci_high": -1.0},
        "thefts_per_day": {**saved["thefts_per_day"], "ci_low": -0.5, "ci_high": -0.1},
    }
    try:
        assert winner.name in frontier.answer() and frontier.answer().startswith("Better")
    finally:
        winner.vs_baseline = saved


def test_folder_is_written_whole_and_replaces_only_its_own_kind(
    frontier: Frontier, tmp_path: Path
) -> None:
    out = tmp_path / "fr"
    written = write_frontier(frontier, out)
    assert sorted(p.name for p in written) == sorted(p.name for p in out.iterdir())
    assert {p.name for p in written} == {"frontier.png", "frontier.json", "frontier.md"}
    data = json.loads((out / "frontier.json").read_text(), parse_constant=_refuse)
    assert [row["policy"] for row in data["policies"]] == [r["policy"] for r in frontier.rows()]
    assert data["answer"] == frontier.answer()
    markdown = (out / "frontier.md").read_text()
    assert frontier.answer() in markdown and "| pmedian_theft:theft=500 | 500 |" in markdown
    write_frontier(frontier, out)  # an earlier frontier folder is replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_frontier(frontier, other)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fr", "other"]  # no temp folder left


def _refuse(name: str) -> None:
    raise AssertionError(f"non-JSON constant {name}")


def test_labels_never_overlap() -> None:
    fig, ax = figures.new_figure(6.0, 4.0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(4.0, 0.05, 25), rng.normal(3.0, 0.05, 25)
    ax.scatter(x, y)
    ax.set_xlim(3.5, 4.5)
    ax.set_ylim(2.5, 3.5)
    placed = plots.place_labels(fig, ax, [(f"policy {i}", x[i], y[i]) for i in range(25)])
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in placed]
    assert len(placed) >= 8
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--lambdas", "0,-1", "argument --lambdas: must be finite and >= 0, got '-1'"),
        ("--lambdas", "0,nan", "argument --lambdas: must be finite and >= 0, got 'nan'"),
        ("--lambdas", "0,x", "argument --lambdas: expected a number, got 'x'"),
        ("--lambdas", "5,5", "argument --lambdas: a weight is listed twice in '5,5'"),
        ("--policies", "nearest,,pmedian", "--policies: an empty or repeated name"),
        ("--policies", "redeploy:theft=-2", "policy 'redeploy:theft=-2': parameter 'theft'"),
    ],
)
def test_cli_refuses_bad_flags_in_one_line(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["frontier", flag, value, "--out", str(tmp_path / "f"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("patrolmarl: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "f").exists()


def test_cli_refuses_a_foreign_out_folder_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert main(["frontier", "--days", "1", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--out: " in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
