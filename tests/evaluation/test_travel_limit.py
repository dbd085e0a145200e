"""metrics.json["limit"]: the proven travel bound and its hourly table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from patrolmarl.agents.pmedian import BOUND_SOURCES, hourly_pmedian
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.evaluate import travel_limit


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
