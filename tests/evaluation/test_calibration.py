"""The packaged district's calibration, precinct by precinct, against the report's figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.calibration import (
    REPORTED_HOT_SPOT,
    YEAR_DAYS,
    hot_spot_precinct,
    nearest_records,
    precinct_calibration,
)
from patrolmarl.evaluation.evaluate import summarise

DAYS = 120
SEED = 10000
TOLERANCE = 0.03  # the brief's "within 3 points" of the report's 39.97 %


@pytest.fixture(scope="module")
def gaoxin() -> tuple[District, IncidentModel, list]:
    district = District.load("gaoxin")
    incidents = IncidentModel(district)
    return district, incidents, nearest_records(district, DAYS, SEED)


def test_the_hot_spot_precinct_is_anji(gaoxin: tuple) -> None:
    district, incidents, _ = gaoxin
    assert hot_spot_precinct(district, incidents) == "3"


def test_hot_spot_precinct_patrol_share_matches_the_report(gaoxin: tuple) -> None:
    district, incidents, records = gaoxin
    table = precinct_calibration(records, incidents)
    row = table[hot_spot_precinct(district, incidents)]
    share = row["patrol_share"]
    calls = row["on_scene_calls_per_day"] * DAYS
    # Sampling noise of a share of `calls` calls: three binomial standard errors.
    noise = 3.0 * math.sqrt(share * (1.0 - share) / calls)
    assert abs(share - REPORTED_HOT_SPOT["patrol_share"]) < TOLERANCE + noise


def test_precinct_figures_add_up_to_the_district(gaoxin: tuple) -> None:
    _, incidents, records = gaoxin
    table = precinct_calibration(records, incidents)
    summary = summarise("nearest", records, incidents).summary
    calls = [row["on_scene_calls_per_day"] for row in table.values()]
    assert sum(calls) == pytest.approx(summary["on_scene_calls_per_day"])
    served = sum(row["patrol_share"] * c for row, c in zip(table.values(), calls, strict=True))
    assert served / sum(calls) == pytest.approx(summary["patrol_share"])
    thefts = sum(row["thefts_per_week"] for row in table.values()) / 7
    assert thefts == pytest.approx(summary["thefts_per_day"])
    assert all(row["worst_week_thefts"] is None for row in table.values())  # under a year


def test_no_hot_spot_precinct_without_theft() -> None:
    district = District.load("gaoxin")
    incidents = IncidentModel(district)
    incidents.rate_per_minute[:, incidents.deterrable, :] = 0.0
    assert hot_spot_precinct(district, incidents) is None


def test_worst_week_is_the_yearly_worst_week(gaoxin: tuple) -> None:
    """A year of one repeated day with one other day in it: that day's week is the worst."""
    _, incidents, records = gaoxin
    thefts = [precinct_calibration([r], incidents)["3"]["thefts_per_week"] / 7 for r in records]
    low, high = int(np.argmin(thefts)), int(np.argmax(thefts))
    year = [records[low]] * YEAR_DAYS
    year[100] = records[high]
    row = precinct_calibration(year, incidents)["3"]
    assert row["worst_week_thefts"] == pytest.approx(6 * thefts[low] + thefts[high])
    assert row["worst_week_thefts"] > row["thefts_per_week"]
