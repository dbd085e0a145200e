"""Policies played in worker processes: the same records, trained models kept in this process."""

from __future__ import annotations

import os

import numpy as np

from patrolmarl.agents.baselines import NearestPolicy, RandomPolicy
from patrolmarl.envs.district import District
from patrolmarl.evaluation.runner import day_seeds, run_policies


class _ObservingRandom(RandomPolicy):
    """A random policy that asks for observations (as trained models do) and notes its process."""

    name = "observing_random"
    uses_observations = True

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.processes: set[int] = set()

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        assert observations is not None
        self.processes.add(os.getpid())
        return super().act(observations, action_masks)


def _policies() -> list:
    return [NearestPolicy(seed=3), _ObservingRandom(seed=3), RandomPolicy(seed=3)]


def test_forked_policies_give_the_same_records_and_observing_ones_stay_here():
    district = District.load("gaoxin", episode_minutes=60)
    seeds = day_seeds(2, 2)
    serial = run_policies(district, _policies(), seeds)
    policies = _policies()
    forked = run_policies(district, policies, seeds, workers=2)
    assert policies[1].processes == {os.getpid()}
    # Forked policies ran on copies: the parent's generator has not moved.
    assert policies[2]._rng.random() == RandomPolicy(seed=3)._rng.random()
    for ours, theirs in zip(forked, serial, strict=True):
        assert len(ours) == len(theirs) == 2
        for a, b in zip(ours, theirs, strict=True):
            assert np.array_equal(a.status, b.status)
            assert np.array_equal(a.arrival_time, b.arrival_time, equal_nan=True)
            assert np.array_equal(a.occupied_steps, b.occupied_steps)
