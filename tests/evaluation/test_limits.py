"""metrics.json["limit"]: the proven travel bound with its hourly table, and the theft bound.

The theft bound is held against brute force on a three-cell district: every
presence field of its model on a fine grid, every parked fleet, and the
simulator itself under several policies.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from patrolmarl.agents.baseline_spec import build_baseline
from patrolmarl.agents.pmedian import BOUND_SOURCES, hourly_pmedian
from patrolmarl.agents.theft_posts import PostProblem, minutes_per_hour
from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.sim_view import SimView
from patrolmarl.evaluation.limits import presence_cap, theft_bound, theft_limit, travel_limit
from patrolmarl.evaluation.runner import day_seeds

GRID_STEPS = 60  # presence fields on the simplex in steps of cap / 60


def test_the_limit_is_the_call_weighted_proven_bound_with_its_hourly_table(tiny_district):
    district = tiny_district()
    incidents = IncidentModel(district)
    limit = travel_limit(district, incidents)
    plan = hourly_pmedian(district, incidents)
    hourly = limit["hourly"]
    assert [h["hour"] for h in hourly] == list(range(24))
    assert all(h["bound_source"] in BOUND_SOURCES for h in hourly)
    bounds = np.array([h["lower_bound"] for h in hourly])
    objectives = np.array([h["objective"] for h in hourly])
    assert (bounds <= objectives).all() and (bounds > 0).all()
    gaps = (objectives - bounds) / objectives
    np.testing.assert_allclose([h["gap"] for h in hourly], gaps)
    assert limit["max_gap"] == pytest.approx(gaps.max())
    assert limit["max_gap"] <= 0.01
    calls = plan.call_weights
    assert limit["travel_lower_bound"] == pytest.approx(bounds @ calls / calls.sum())
    assert limit["pmedian_travel_at_sites"] == pytest.approx(objectives @ calls / calls.sum())
    assert limit["hourly_lower_bound"] == bounds.tolist()
    json.dumps(limit, allow_nan=False)  # plain numbers, ready for metrics.json


def _three_cells() -> District:
    """Three cells in a row, two units, thefts heaviest on the left, profile rising over 3 hours."""
    raw = {
        "name": "three",
        "cell_size_m": 400,
        "land_use_map": ["ABC"],
        "precinct_map": ["111"],
        "land_uses": {
            "A": {"name": "hot", "road_speed_kmh": 25, "street_traffic": 1.0},
            "B": {"name": "warm", "road_speed_kmh": 25, "street_traffic": 1.0},
            "C": {"name": "cool", "road_speed_kmh": 25, "street_traffic": 1.0},
        },
        "precincts": {"1": {"name": "all"}},
        "vehicles": {"car": {"max_speed_kmh": 30}},
        "units": [{"count": 2, "vehicle": "car", "precinct": "1"}],
        "call_types": {
            "noise": {
                "daily_rate": 40,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"B": 1.0},
                "service": {"dist": "fixed", "mean": 10},
            },
            "theft": {
                "daily_rate": 200,
                "hourly_profile": [1, 2, 4] + [1] * 21,
                "land_use_weights": {"A": 5.0, "B": 2.0, "C": 0.5},
                "service": {"dist": "fixed", "mean": 10},
                "deterrable": True,
            },
        },
        "simulation": {"episode_minutes": 180},
    }
    return District.from_config(validate_district_dict(raw, "<three cells>"))


def _kept(district: District, presence: np.ndarray) -> np.ndarray:
    """``(..., C)`` share of theft candidates kept at ``(..., C)`` presence fields, by hand."""
    params = district.config.deterrence
    nearby = presence.copy()
    for c, neighbours in enumerate(district.neighbour):
        for n in neighbours[neighbours >= 0]:
            nearby[..., c] += params.neighbour_weight * presence[..., n]
    return 1.0 - params.max_reduction * (1.0 - np.exp(-nearby / params.saturation_minutes))


def test_the_theft_bound_is_below_every_presence_field_and_tight_at_the_best():
    district = _three_cells()
    incidents = IncidentModel(district)
    bound = theft_bound(district, incidents)
    cap = presence_cap(district)
    theta = incidents.rate_per_minute[:, incidents.deterrable, :].sum(axis=1)
    # Every field P >= 0 with sum P <= cap on the grid of cap / GRID_STEPS.
    steps = [k for k in itertools.product(range(GRID_STEPS + 1), repeat=3) if sum(k) <= GRID_STEPS]
    fields = np.array(steps, dtype=float) * cap / GRID_STEPS
    assert set(bound.hours) == {0, 1, 2}
    for h, hour in bound.hours.items():
        values = _kept(district, fields) @ theta[h]  # expected thefts per minute
        best = values.min()
        assert hour.certified <= best  # a lower bound of every field
        assert hour.objective <= best + hour.gap  # within its gap of the true minimum
        assert best - hour.certified <= 1e-3 * best  # and tight: the grid's best is that close
        assert hour.presence.sum() == pytest.approx(cap)  # the optimum spends the whole cap
    per_day = bound.minutes[[0, 1, 2]] @ np.array([hb.certified for hb in bound.hours.values()])
    assert bound.per_day == pytest.approx(per_day)
    assert bound.undeterred_per_day == pytest.approx(60.0 * theta[:3].sum())


def test_the_theft_bound_is_below_every_parked_fleet():
    district = _three_cells()
    incidents = IncidentModel(district)
    bound = theft_bound(district, incidents).per_day
    minutes = minutes_per_hour(district)
    problems = [PostProblem.for_hour(district, incidents, h, 1.0) for h in (0, 1, 2)]
    placements = list(itertools.combinations_with_replacement(range(3), district.n_units))
    thefts = [
        sum(minutes[h] / 60.0 * p.thefts(np.array(sites)) for h, p in enumerate(problems))
        for sites in placements
    ]
    assert len(thefts) == 6
    assert min(thefts) >= bound
    assert min(thefts) <= 1.02 * bound  # two parked units on the hot cells come close


@pytest.mark.parametrize("spec", ["fixed_zone", "nearest", "random", "pmedian_theft"])
def test_no_policy_expects_fewer_thefts_in_the_simulator_than_the_bound(spec):
    district = _three_cells()
    incidents = IncidentModel(district)
    bound = theft_bound(district, incidents).per_day
    theta = incidents.rate_per_minute[:, incidents.deterrable, :].sum(axis=1)
    days = 3
    sim = BatchedSim(district, batch_size=days)
    policy = build_baseline(spec, seed=2)
    policy.bind(SimView(sim))
    sim.reset(seeds=day_seeds(4, days))
    policy.reset(np.ones(days, dtype=bool))
    expected = np.zeros(days)
    while not sim.done.any():  # the step [t, t + step) thins thefts by the presence at t
        kept = _kept(district, sim.presence)
        expected += sim.step_minutes * np.einsum("bc,bc->b", theta[sim.hour_of_day], kept)
        sim.step(policy.act(None, sim.action_masks()))
    assert (expected >= bound).all(), expected


def test_theft_limit_in_metrics_json_is_the_bound():
    district = _three_cells()
    incidents = IncidentModel(district)
    bound = theft_bound(district, incidents)
    limit = theft_limit(district, incidents)
    assert limit == {
        "theft_lower_bound": bound.per_day,
        "theft_relaxation": bound.relaxation_per_day,
        "theft_undeterred": bound.undeterred_per_day,
        "theft_worst_gap": bound.worst_relative_gap,
    }
    assert limit["theft_lower_bound"] <= limit["theft_relaxation"] < limit["theft_undeterred"]
    json.dumps(limit, allow_nan=False)


def test_a_district_without_theft_has_a_zero_theft_bound(tiny_district):
    district = tiny_district()  # street calls only
    limit = theft_limit(district, IncidentModel(district))
    assert limit == {
        "theft_lower_bound": 0.0,
        "theft_relaxation": 0.0,
        "theft_undeterred": 0.0,
        "theft_worst_gap": 0.0,
    }
