"""The combined cost: response minutes of street calls + lambda x thefts, per day and paired."""

from __future__ import annotations

import json

import numpy as np
import pytest

from patrolmarl.agents.baselines import NearestPolicy
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import EpisodeRecord
from patrolmarl.envs.status import ASSIGNED, DETERRED, FUTURE, HANDED_OVER, PENDING, SERVED
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation import evaluate as evaluate_module
from patrolmarl.evaluation.combined_cost import DEFAULT_THEFT_MINUTES
from patrolmarl.evaluation.evaluate import (
    BASELINE,
    Evaluation,
    evaluate,
    paired_differences,
    summarise,
)
from patrolmarl.evaluation.statistics import NO_VARIATION
from tests.helpers import assert_one_line_error, run_cli, short_busy_gaoxin, write_short_busy_gaoxin

NAN = float("nan")


def _day(
    incidents: IncidentModel,
    calls: list[tuple[str, int, float, float]],
    theft_chances: list[float] | None = None,
) -> EpisodeRecord:
    """A hand-made day of ``(type, status, created, arrived)`` calls (arrived NaN: never),
    with each call's theft chance (NaN when not given)."""
    district = incidents.district
    n, units = len(calls), district.n_units
    kind = np.array([incidents.type_names.index(c[0]) for c in calls])
    arrival = np.array([c[3] for c in calls])
    return EpisodeRecord(
        time=np.array([c[2] for c in calls]),
        type=kind,
        cell=np.zeros(n, dtype=np.int64),
        status=np.array([c[1] for c in calls], dtype=np.int8),
        unit=np.where(np.isnan(arrival), -1, 0),
        dispatch_time=arrival - 1.0,
        arrival_time=arrival,
        by_fallback=np.zeros(n, dtype=bool),
        closed=np.zeros(n, dtype=bool),
        follow_up=np.zeros(n, dtype=bool),
        pool_start=np.full(n, NAN),
        theft_chance=np.full(n, NAN) if theft_chances is None else np.array(theft_chances),
        unit_busy_minutes=np.ones(units),
        unit_calls_served=np.zeros(units, dtype=np.int64),
        covered_steps=np.zeros(district.n_cells, dtype=np.int64),
        occupied_steps=np.zeros(district.n_cells, dtype=np.int64),
        steps=240,
        step_minutes=1.0,
    )


# Responses 4 + 6 + 11 + 9 = 30 min; thefts: the served one and the pending one (the deterred
# candidate never happened). The handed-over, assigned and future calls add nothing.
DAY_1 = [
    ("noise", SERVED, 10.0, 14.0),
    ("help", SERVED, 30.0, 36.0),
    ("dispute", SERVED, 50.0, 61.0),
    ("theft", SERVED, 70.0, 79.0),
    ("theft", DETERRED, 80.0, NAN),
    ("theft", PENDING, 230.0, NAN),
    ("compound", HANDED_OVER, 90.0, NAN),
    ("noise", ASSIGNED, 200.0, NAN),
    ("noise", FUTURE, 250.0, NAN),
]
# Responses 5 + 7.5 = 12.5 min; one theft (waiting for a unit at the day's end).
DAY_2 = [
    ("help", SERVED, 0.0, 5.0),
    ("noise", SERVED, 100.0, 107.5),
    ("theft", ASSIGNED, 120.0, NAN),
]
# Responses 3 min; no theft.
DAY_3 = [("noise", SERVED, 20.0, 23.0), ("theft", DETERRED, 40.0, NAN)]


@pytest.fixture(scope="module")
def incidents() -> IncidentModel:
    return IncidentModel(short_busy_gaoxin())


def test_the_combined_cost_of_hand_made_days(incidents: IncidentModel) -> None:
    days = [_day(incidents, calls) for calls in (DAY_1, DAY_2, DAY_3)]
    result = summarise("hand", days, incidents, theft_minutes=60.0)
    assert [d["combined_cost"] for d in result.per_day] == [30.0 + 2 * 60.0, 12.5 + 60.0, 3.0]
    assert result.summary["combined_cost_per_day"] == pytest.approx((150.0 + 72.5 + 3.0) / 3)
    assert [d["thefts"] for d in result.per_day] == [2, 1, 0]  # the thefts counted above
    # lambda 0 leaves the response minutes; lambda 90 weighs each theft 90 minutes.
    free = summarise("hand", days, incidents, theft_minutes=0.0)
    assert [d["combined_cost"] for d in free.per_day] == [30.0, 12.5, 3.0]
    dear = summarise("hand", days, incidents, theft_minutes=90.0)
    assert [d["combined_cost"] for d in dear.per_day] == [210.0, 102.5, 3.0]
    # The default lambda is the reward's theft weight.
    assert DEFAULT_THEFT_MINUTES == 60.0
    default = summarise("hand", days, incidents)
    assert default.summary["combined_cost_per_day"] == result.summary["combined_cost_per_day"]


def test_the_expected_cost_weighs_the_theft_chances_not_the_thefts(incidents) -> None:
    """DAY_1's three theft candidates had chances 0.9 (happened), 0.35 (deterred) and 0.5
    (happened): 1.75 thefts expected against 2 drawn; DAY_3's deterred one 0.2."""
    chances = [NAN, NAN, NAN, 0.9, 0.35, 0.5, NAN, NAN, NAN]
    days = [_day(incidents, DAY_1, chances), _day(incidents, DAY_3, [NAN, 0.2])]
    result = summarise("hand", days, incidents, theft_minutes=60.0)
    assert [d["expected_thefts"] for d in result.per_day] == pytest.approx([1.75, 0.2])
    assert [d["expected_cost"] for d in result.per_day] == pytest.approx([135.0, 15.0])
    assert [d["combined_cost"] for d in result.per_day] == [150.0, 3.0]
    assert result.summary["expected_thefts_per_day"] == pytest.approx(1.95 / 2)
    assert result.summary["expected_cost_per_day"] == pytest.approx(75.0)


def test_paired_combined_cost_of_hand_made_policies(incidents: IncidentModel) -> None:
    ours = [_day(incidents, calls) for calls in (DAY_1, DAY_2, DAY_3)]
    theirs = [_day(incidents, calls) for calls in (DAY_3, DAY_3, DAY_2)]  # 3, 3, 72.5 min
    ev = Evaluation(
        district=incidents.district,
        seed=0,
        seeds=[[0, d] for d in range(3)],
        results=[summarise(n, r, incidents, 60.0) for n, r in (("a", ours), ("b", theirs))],
        limit={},
        calibration=None,
        theft_minutes=60.0,
    )
    diff = paired_differences(ev, "a", "b", resamples=500)["combined_cost_per_day"]
    assert diff["difference"] == pytest.approx((225.5 - 78.5) / 3)
    assert diff["relative"] == pytest.approx(147.0 / 78.5)
    # Resampled days: the day-by-day differences are 147, 69.5 and -69.5, so any resample's
    # mean difference lies between -69.5 and 147.
    assert -69.5 <= diff["ci_low"] < diff["difference"] < diff["ci_high"] <= 147.0
    itself = paired_differences(ev, "a", "a", resamples=500)["combined_cost_per_day"]
    assert itself["difference"] == 0.0 and itself["relative"] == 0.0
    # A zero-width interval is given as none, with the reason (see statistics).
    assert (itself["ci_low"], itself["ci_high"], itself["excludes_zero"]) == (None, None, None)
    assert itself["interval_note"] == NO_VARIATION


@pytest.fixture(scope="module")
def evaluated() -> Evaluation:
    """fixed_zone and nearest on 3 short days, lambda 30."""
    district = short_busy_gaoxin()
    policies = [NearestPolicy(seed=2)]
    return evaluate(
        district, policies, 3, seed=2, resamples=300, with_limit=False, theft_minutes=30
    )


def _cost_from_the_call_log(record: EpisodeRecord, incidents: IncidentModel, lam: float) -> float:
    """Call by call: minutes to arrival of patrol-served calls, plus lam per theft that happened."""
    total = 0.0
    for k in range(record.time.size):
        if record.status[k] == SERVED:
            total += record.arrival_time[k] - record.time[k]
        happened = record.status[k] not in (FUTURE, DETERRED)
        if happened and incidents.type_names[record.type[k]] == "theft":
            total += lam
    return total


def test_the_evaluator_adds_up_the_call_log(evaluated: Evaluation) -> None:
    incidents = IncidentModel(evaluated.district)
    assert evaluated.theft_minutes == 30.0 and evaluated.to_json()["theft_minutes"] == 30.0
    for r in evaluated.results:
        by_hand = [_cost_from_the_call_log(rec, incidents, 30.0) for rec in r.records]
        assert [d["combined_cost"] for d in r.per_day] == pytest.approx(by_hand, rel=1e-12)
        assert r.summary["combined_cost_per_day"] == pytest.approx(np.mean(by_hand), rel=1e-12)
        assert sum(d["thefts"] for d in r.per_day) > 0, r.name  # the thefts are in the figure
    base = evaluated.result(BASELINE).summary["combined_cost_per_day"]
    nearest = evaluated.result("nearest")
    diff = nearest.vs_baseline["combined_cost_per_day"]
    expected = nearest.summary["combined_cost_per_day"] - base
    assert diff["difference"] == pytest.approx(expected, rel=1e-12)
    assert diff["ci_low"] <= diff["difference"] <= diff["ci_high"]
    assert paired_differences(evaluated, "nearest", BASELINE, 300)["combined_cost_per_day"][
        "difference"
    ] == pytest.approx(expected, rel=1e-12)


def test_a_policy_against_itself_differs_by_zero(evaluated: Evaluation) -> None:
    for diff in (
        evaluated.result(BASELINE).vs_baseline["combined_cost_per_day"],
        paired_differences(evaluated, "nearest", "nearest", 300)["combined_cost_per_day"],
    ):
        assert diff["difference"] == 0.0
        assert (diff["ci_low"], diff["ci_high"], diff["interval_note"]) == (
            None,
            None,
            NO_VARIATION,
        )


@pytest.mark.parametrize("value", [NAN, float("inf"), -1.0, "60", True, None])
def test_evaluate_refuses_a_bad_theft_weight(value: object) -> None:
    with pytest.raises(PatrolMarlError, match="theft_minutes must be"):
        evaluate(short_busy_gaoxin(), [], 1, 0, with_limit=False, theft_minutes=value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("nan", "must be finite and >= 0, got 'nan'"),
        ("inf", "must be finite and >= 0, got 'inf'"),
        ("-inf", "must be finite and >= 0, got '-inf'"),
        ("-1", "must be finite and >= 0, got '-1'"),
        ("sixty", "expected a number, got 'sixty'"),
        ("", "expected a number, got ''"),
    ],
)
def test_the_theft_minutes_flag_is_validated(tmp_path, value: str, reason: str) -> None:
    out = tmp_path / "report"
    code, stdout, err = run_cli(
        "evaluate", "--policies", "nearest", "--days", "1", "--out", out, f"--theft-minutes={value}"
    )
    assert_one_line_error(code, stdout, err, f"argument --theft-minutes: {reason}")
    assert not out.exists()


@pytest.mark.slow  # about 4 s: a whole report folder
def test_the_theft_minutes_flag_sets_lambda(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate_module, "travel_limit", lambda district, incidents: {})
    monkeypatch.setattr(evaluate_module, "theft_limit", lambda district, incidents: {})
    district, out = write_short_busy_gaoxin(tmp_path), tmp_path / "report"
    code, stdout, err = run_cli(
        "evaluate", "--district", district, "--policies", "nearest", "--days", "3",
        "--out", out, "--theft-minutes", "12.5", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["theft_minutes"] == 12.5
    for entry in metrics["policies"].values():
        costs = [d["combined_cost"] for d in entry["per_day"]]
        responses = [d["response_mean"] * d["served_by_patrol"] for d in entry["per_day"]]
        thefts = [d["thefts"] for d in entry["per_day"]]
        assert costs == pytest.approx(
            [r + 12.5 * t for r, t in zip(responses, thefts, strict=True)]
        )
        assert "combined_cost_per_day" in entry["vs_baseline"]
    assert "lambda = 12.5 minutes per theft" in (out / "report.md").read_text()
    assert "cost/d" in stdout.splitlines()[0]  # the terminal table's column


def test_the_flag_help_gives_the_default(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from patrolmarl.cli import main

    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--theft-minutes THEFT_MINUTES lambda of the combined cost" in text
    assert f"(default: the reward's theft weight, {DEFAULT_THEFT_MINUTES:g})" in text
