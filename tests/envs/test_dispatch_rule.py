"""Dispatch rules: their shapes are checked, and under a command-centre rule no unit accepts."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import AGENTS, NEAREST, zone_rule
from patrolmarl.envs.district import District
from patrolmarl.envs.reference import ReferenceSim
from patrolmarl.envs.status import FIRST_ACCEPT
from tests.helpers import short_busy_gaoxin


def test_zone_rule_takes_fixed_or_hourly_zones() -> None:
    fixed = np.eye(3, 5, dtype=bool)
    rule = zone_rule(fixed)
    assert rule.zone.shape == (24, 3, 5) and not rule.by_agents
    assert all((rule.zone[h] == fixed).all() for h in range(24))
    hourly = np.zeros((24, 3, 5), dtype=bool)
    hourly[7] = True
    assert zone_rule(hourly).zone[7].all() and not zone_rule(hourly).zone[6].any()
    with pytest.raises(ValueError, match=r"\(N, C\) or \(24, N, C\)"):
        zone_rule(np.zeros((12, 3, 5), dtype=bool))


def test_a_zone_rule_for_another_district_is_refused() -> None:
    sim = BatchedSim(District.load("gaoxin"), batch_size=1)
    with pytest.raises(ValueError, match="the district needs"):
        sim.set_dispatch(zone_rule(np.ones((2, 3), dtype=bool)))


def test_command_centre_rules_mask_accepts_and_agents_rule_allows_them() -> None:
    district = short_busy_gaoxin()
    seen = {}
    for rule in (AGENTS, NEAREST):
        sim = BatchedSim(district, batch_size=2)
        sim.set_dispatch(rule)
        sim.reset(seeds=[3, 4])
        ref = ReferenceSim(district)
        ref.set_dispatch(rule)
        ref.reset(3)
        accept_allowed = 0
        for _ in range(120):
            masks = sim.action_masks()
            np.testing.assert_array_equal(masks[0], ref.action_mask())
            accept_allowed += int(masks[..., FIRST_ACCEPT:].sum())
            sim.step(np.zeros((2, sim.n_units), dtype=np.int64))
            ref.step([0] * sim.n_units)
        seen[rule.kind] = accept_allowed
    assert seen["agents"] > 0 and seen["nearest"] == 0
