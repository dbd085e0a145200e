"""Idle patrol time: the recorder's counting of patrol and waiting minutes, and its run hook."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from patrolmarl.agents.registry import load_policy
from patrolmarl.beats.patrol_time import PatrolTimeRecorder
from patrolmarl.envs.district import District
from patrolmarl.envs.status import EN_ROUTE, IDLE, MOVING
from patrolmarl.evaluation.runner import day_seeds, run_policy


class _View(SimpleNamespace):
    """The fields of a SimView the recorder reads."""


def test_recorder_counts_patrol_and_waiting_minutes():
    d = District.load("gaoxin")
    recorder = PatrolTimeRecorder(d, n_blocks=24, wait_minutes=5.0)
    n = d.n_units
    # Unit 0 stands in cell 5 for 10 minutes; unit 1 moves; unit 2 stands 3 minutes then
    # moves; unit 3 is en route (not on patrol). Minutes 55-64 cross from hour 0 to hour 1.
    for minute in range(55, 65):
        status = np.full((1, n), IDLE)
        cell = np.tile(np.arange(n) * 10, (1, 1))
        cell[0, 0] = 5
        status[0, 1] = MOVING
        cell[0, 1] = minute  # a different cell each minute
        status[0, 2] = IDLE if minute < 58 else MOVING
        status[0, 3] = EN_ROUTE
        recorder(_View(unit_status=status, unit_cell=cell, now=np.array([minute]), step_minutes=1))
    time = recorder.result(days=1)
    assert time.patrol_minutes[0, 0, 5] == 5 and time.patrol_minutes[1, 0, 5] == 5
    # The stay's 5th minute is minute 59: waiting from there on, 1 minute in hour 0.
    assert time.wait_minutes[0, 0, 5] == 1 and time.wait_minutes[1, 0, 5] == 5
    assert time.patrol_minutes[:, 1].sum() == 10 and time.wait_minutes[:, 1].sum() == 0
    assert time.patrol_minutes[:, 2].sum() == 10 and time.wait_minutes[:, 2].sum() == 0
    assert time.patrol_minutes[:, 3].sum() == 0


def test_observe_hook_sees_every_step_and_changes_nothing():
    d = District.load("gaoxin", episode_minutes=60)
    seeds = day_seeds(1, 2)
    seen = []
    with_hook = run_policy(d, load_policy("nearest", d, 1), seeds, observe=seen.append)
    without = run_policy(d, load_policy("nearest", d, 1), seeds)
    assert len(seen) == 60
    for a, b in zip(with_hook, without, strict=True):
        np.testing.assert_array_equal(a.arrival_time, b.arrival_time)
        np.testing.assert_array_equal(a.occupied_steps, b.occupied_steps)
