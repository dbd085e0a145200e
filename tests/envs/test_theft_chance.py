"""The theft chance the simulator records for each theft candidate, and the expected
thefts it sums to (:func:`patrolmarl.envs.metrics.day_parts`)."""

from __future__ import annotations

import numpy as np

from patrolmarl.agents.baselines import FixedZonePolicy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import day_parts
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import DETERRED, FUTURE
from patrolmarl.evaluation.runner import day_seeds
from tests.helpers import short_busy_gaoxin

DAYS = 64


def _played(seed: int) -> BatchedSim:
    """fixed_zone on DAYS short busy days."""
    sim = BatchedSim(short_busy_gaoxin(), batch_size=DAYS)
    policy = FixedZonePolicy(seed)
    policy.bind(SimView(sim))
    sim.reset(seeds=day_seeds(seed, DAYS))
    policy.reset(np.ones(DAYS, dtype=bool))
    while not sim.done.any():
        sim.step(policy.act(None, sim.action_masks()))
    return sim


def test_a_candidate_became_a_theft_exactly_when_its_draw_fell_below_its_chance() -> None:
    sim = _played(seed=3)
    incidents = IncidentModel(sim.district)
    log = sim.calls
    arrived = (log.status != FUTURE) & np.isfinite(log.time)
    candidate = arrived & incidents.deterrable[log.type]
    assert candidate.sum() > 40
    chance = log.theft_chance[candidate]
    assert np.all((chance > 0) & (chance <= 1))  # presence deters, never below zero
    assert chance.min() < 1  # the fixed zones' patrols deterred somewhere
    kept = log.status[candidate] != DETERRED
    np.testing.assert_array_equal(kept, log.theft_u[candidate] < chance)
    assert np.isnan(log.theft_chance[arrived & ~incidents.deterrable[log.type]]).all()


def test_the_expected_thefts_agree_with_the_thefts_drawn() -> None:
    """Over DAYS days the drawn thefts lie within four standard errors of the sum of the
    chances (a draw is a Bernoulli trial of its chance), and the sum has less spread."""
    sim = _played(seed=5)
    incidents = IncidentModel(sim.district)
    parts = [day_parts(sim.record(b), incidents) for b in range(DAYS)]
    drawn = np.array([p["thefts"][0] for p in parts])
    expected = np.array([p["expected_thefts"][0] for p in parts])
    chance = sim.calls.theft_chance[np.isfinite(sim.calls.theft_chance)]
    standard_error = np.sqrt((chance * (1 - chance)).sum())
    assert drawn.sum() > 40
    assert abs(drawn.sum() - expected.sum()) < 4 * standard_error
    assert expected.std() < drawn.std()
