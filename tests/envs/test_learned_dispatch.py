"""The environments under the command centre's nearest-unit dispatch (a training config's
``dispatch: nearest``): accepts are masked and calls go out at their own instant."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs import PatrolParallelEnv
from patrolmarl.envs.dispatch_rule import AGENTS, LEARNED_RULES, NEAREST
from patrolmarl.envs.status import FIRST_ACCEPT
from patrolmarl.envs.vec_env import PatrolVecEnv
from tests.helpers import short_busy_gaoxin

STEPS = 60  # one busy hour


def _stay_for_an_hour(dispatch) -> tuple[PatrolVecEnv, list[np.ndarray]]:
    env = PatrolVecEnv(short_busy_gaoxin(), n_districts=2, seed=5, dispatch=dispatch)
    env.reset()
    masks = []
    for _ in range(STEPS):
        masks.append(env.action_masks())
        env.step(np.zeros(env.num_envs, dtype=np.int64))
    return env, masks


def _street_dispatches(env: PatrolVecEnv) -> tuple[np.ndarray, np.ndarray]:
    """Call and dispatch times of the calls dispatched so far (both districts)."""
    calls = env.sim.calls
    sent = np.isfinite(calls.dispatch_time)
    return calls.time[sent], calls.dispatch_time[sent]


def test_learned_rules_are_agents_and_nearest():
    assert LEARNED_RULES == {"agents": AGENTS, "nearest": NEAREST}


def test_nearest_dispatch_masks_accepts_and_sends_calls_at_their_instant():
    env, masks = _stay_for_an_hour(NEAREST)
    assert not np.concatenate(masks)[:, FIRST_ACCEPT:].any()
    time, dispatch = _street_dispatches(env)
    assert time.size > 10
    assert np.all(dispatch >= time)
    # With free units about, most calls go out the instant they are made.
    assert np.mean(dispatch == time) > 0.5


def test_agents_dispatch_leaves_calls_to_units_that_stay_until_the_fallback():
    env, masks = _stay_for_an_hour(AGENTS)
    assert np.concatenate(masks)[:, FIRST_ACCEPT:].any()
    time, dispatch = _street_dispatches(env)
    assert time.size > 10
    fallback = short_busy_gaoxin().config.simulation.fallback_minutes
    assert np.all(dispatch >= time + fallback - 1e-9)


def test_the_pettingzoo_env_takes_the_rule_too():
    env = PatrolParallelEnv(short_busy_gaoxin(), seed=0, dispatch=NEAREST)
    _, infos = env.reset(seed=3)
    for _ in range(STEPS):
        assert not any(info["action_mask"][FIRST_ACCEPT:].any() for info in infos.values())
        _, _, _, _, infos = env.step({agent: 0 for agent in env.agents})
    assert env.sim.dispatch is NEAREST


@pytest.mark.parametrize("rule", [AGENTS, NEAREST])
def test_the_vec_env_runs_its_rule(rule):
    env = PatrolVecEnv(short_busy_gaoxin(), n_districts=1, seed=0, dispatch=rule)
    assert env.sim.dispatch is rule
