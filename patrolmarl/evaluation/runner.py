"""Run policies on the same days (common random numbers), all days batched in one core."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from patrolmarl.agents.policy import Policy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.metrics import EpisodeRecord
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.sim_view import SimView


def day_seeds(seed: int, days: int) -> list[list[int]]:
    """The seeds of evaluation days ``0..days-1`` under a base ``seed``.

    Day ``d`` is seeded with ``[seed, d]``: adding days never changes the calls
    of the earlier ones. (A policy's own randomness, such as the random patrol
    of the baselines, comes from one generator over the whole batch, so its
    choices on a day can change when other days are added.)
    """
    return [[int(seed), d] for d in range(days)]


def run_policy(
    district: District,
    policy: Policy,
    seeds: Sequence[Sequence[int]],
    on_step: Callable[[int], None] | None = None,
    observe: Callable[[SimView], None] | None = None,
) -> list[EpisodeRecord]:
    """Play ``policy`` for one episode on each seeded day, all days as one batch.

    Parameters
    ----------
    district
        The district to simulate.
    policy
        Any :class:`Policy`; it is bound to a fresh simulator.
    seeds
        One seed per day (see :func:`day_seeds`); the same seeds give every
        policy the same calls and theft candidates.
    on_step
        Called after every step with the number of steps taken (progress bars).
    observe
        Called before every step with the read-only view of the state the
        policy acts on (e.g. to record where units patrol).

    Returns
    -------
    list of EpisodeRecord
        One per day, in the order of ``seeds``.
    """
    sim = BatchedSim(district, batch_size=len(seeds))
    view = SimView(sim)
    policy.bind(view)
    sim.reset(seeds=list(seeds))
    policy.reset(np.ones(len(seeds), dtype=bool))
    builder = (
        ObservationBuilder(sim, move_gains=getattr(policy, "move_gains", False))
        if getattr(policy, "uses_observations", False)
        else None
    )
    steps = 0
    while not sim.done.any():
        if observe is not None:
            observe(view)
        observations = builder.observe() if builder is not None else None
        sim.step(policy.act(observations, sim.action_masks()))
        steps += 1
        if on_step is not None:
            on_step(steps)
    return [sim.record(b) for b in range(len(seeds))]
