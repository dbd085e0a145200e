"""redeploy: busy units are never moved, every call is served, and posts follow the free set."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import pytest

from patrolmarl.agents.redeploy import RedeployPolicy
from patrolmarl.agents.theft_posts import PostProblem, solve_posts
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import (
    ASSIGNED,
    DETERRED,
    EN_ROUTE,
    FUTURE,
    HANDED_OVER,
    IDLE,
    ON_SCENE,
    PENDING,
    SERVED,
    is_available,
)

# Busy: many calls in a short day, so units go busy and free up often.
BUSY = {"episode_minutes": 90, "call_types.noise.daily_rate": 500}


@functools.cache
def _district() -> District:
    return District.load("gaoxin", **BUSY)


class Step(NamedTuple):
    """One decision: the simulator and policy, the actions, and what held before them."""

    sim: BatchedSim
    policy: RedeployPolicy
    actions: np.ndarray
    masks: np.ndarray
    available: np.ndarray
    hour: np.ndarray
    solves: int


def _play(theft: float, days: int = 2):
    """Run a day per seed step by step, yielding a :class:`Step` before each sim step."""
    sim = BatchedSim(_district(), batch_size=days)
    policy = RedeployPolicy(theft=theft)
    policy.bind(SimView(sim))
    sim.reset(seeds=[[5, d] for d in range(days)])
    policy.reset(np.ones(days, dtype=bool))
    while not sim.done.any():
        masks = sim.action_masks()
        before = is_available(sim.unit_status).copy()
        hour = sim.hour_of_day.copy()
        solves = policy.solves
        actions = policy.act(None, masks)
        yield Step(sim, policy, actions, masks, before, hour, solves)
        sim.step(actions)


@pytest.mark.parametrize("theft", [0.0, 60.0])
def test_busy_units_only_continue_and_every_call_is_served(theft: float) -> None:
    busy_steps = 0
    previous = None
    for step in _play(theft):
        sim, policy, actions, masks, available, hour, solves = step
        b, n = np.indices(actions.shape)
        assert masks[b, n, actions].all()  # every action allowed
        busy = (sim.unit_status == EN_ROUTE) | (sim.unit_status == ON_SCENE)
        assert (actions[busy] == 0).all()
        assert (policy.posts[busy] == -1).all() and (policy.posts[~busy] >= 0).all()
        busy_steps += int(busy.sum())
        # The free set or the hour changed exactly where a re-solve happened.
        if previous is not None:
            changed = (available != previous[0]).any(axis=1) | (hour != previous[1])
            assert policy.solves - solves == int((changed & available.any(axis=1)).sum())
        previous = (available, hour)
    assert busy_steps > 100  # the days did keep units busy
    for d in range(sim.batch_size):
        status = sim.calls.status[d, : int(sim.calls.n_calls[d])]
        created = int(((status != FUTURE) & (status != DETERRED)).sum())
        accounted = np.isin(status, [SERVED, PENDING, ASSIGNED, HANDED_OVER]).sum()
        assert created == accounted > 0
        assert (status == SERVED).sum() > 0


def test_posts_are_the_solution_for_the_free_units() -> None:
    """After a dispatch, the free units' posts solve the placement for the free set alone."""
    checked = 0
    for step in _play(0.0, days=1):
        sim, policy, available, hour = step.sim, step.policy, step.available, step.hour
        if policy.solves == step.solves or available.all():
            continue
        units = np.flatnonzero(available[0])
        problem = PostProblem.for_hour(sim.district, sim.incidents, int(hour[0]), 0.0)
        vehicle = sim.district.unit_vehicle[units]
        posts = policy.posts[0, units]
        value = problem.response(vehicle, posts)
        # No single unit can improve the free set's placement from these posts.
        polished = solve_posts(problem, vehicle, starts=[posts], greedy=False, certify=False)
        assert polished.response_minutes == pytest.approx(value, rel=1e-9)
        # And the busy units' absence is accounted for: the full fleet would do better.
        full = solve_posts(problem, sim.district.unit_vehicle, certify=False)
        assert full.response_minutes < value
        checked += 1
        if checked == 3:
            break
    assert checked == 3


def test_idle_units_head_for_their_posts() -> None:
    steps = 0
    for step in _play(0.0, days=1):
        sim, policy, actions = step.sim, step.policy, step.actions
        idle = sim.unit_status[0] == IDLE
        away = idle & (sim.unit_cell[0] != policy.posts[0])
        moving = (actions[0] >= 1) & (actions[0] <= 4)
        accepting = actions[0] >= 5
        assert (moving | accepting)[away].all()
        steps += 1
        if steps == 40:
            break
