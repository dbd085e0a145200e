"""Run policies on the same days (common random numbers), all days batched in one core.

Several policies can run side by side in forked worker processes (one policy
per task): each policy's days depend only on the policy and the seeds, so the
records are the same as run one after the other.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence

import numpy as np

from patrolmarl.agents.policy import Policy, policy_dispatch
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.metrics import EpisodeRecord
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.sim_view import SimView

# glibc serves every allocation above its mmap threshold (128 KiB at start) with a
# fresh mmap, page-faulted anew on each use, and the per-step temporaries of the
# simulator and the baselines are mostly above it. Freeing one mmapped block raises
# the threshold to that block's size (glibc's dynamic threshold, at most 32 MiB);
# from then on those temporaries reuse heap memory (the coverage baseline's 30
# days take less than half the time). Elsewhere it is an allocation and a free.
_ALLOCATOR_WARM_BYTES = 16 * 2**20


def _warm_allocator() -> None:
    """Raise glibc's mmap threshold by freeing one large block (see above)."""
    block = np.empty(_ALLOCATOR_WARM_BYTES, dtype=np.uint8)
    del block


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
    _warm_allocator()
    sim = BatchedSim(district, batch_size=len(seeds))
    view = SimView(sim)
    policy.bind(view)
    sim.set_dispatch(policy_dispatch(policy))
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


def default_workers() -> int:
    """Processes for :func:`run_policies`: the CPUs this process may use (1 without fork)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 1)


# What the forked workers of run_policies run: set just before they fork, so they
# inherit it (policies, solved plans and all) instead of receiving it pickled.
_JOBS: tuple[District, Sequence[Policy], list[list[int]]] | None = None


def _run_job(index: int) -> list[EpisodeRecord]:
    district, policies, seeds = _JOBS
    return run_policy(district, policies[index], seeds)


def run_policies(
    district: District,
    policies: Sequence[Policy],
    seeds: Sequence[Sequence[int]],
    on_step: Callable[[str, int], None] | None = None,
    workers: int = 1,
) -> list[list[EpisodeRecord]]:
    """:func:`run_policy` for every policy on the same days, in up to ``workers`` processes.

    With ``workers > 1`` the rule-based policies are played in forked processes
    (at most ``workers``), each inheriting the policy as it is now (the parent's
    policy objects are left unchanged), and ``on_step`` is called once per such
    policy, when it finishes, with its total steps. Policies that act on
    observations (trained models: torch and onnxruntime thread pools do not
    survive a fork) are played in this process meanwhile.

    Returns
    -------
    list of list of EpisodeRecord
        Each policy's records (one per day), in the order of ``policies``.
    """
    global _JOBS
    seeds = [list(s) for s in seeds]
    forked = [
        i for i, policy in enumerate(policies) if not getattr(policy, "uses_observations", False)
    ]
    workers = min(int(workers), len(forked))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        forked = []
    here = [i for i in range(len(policies)) if i not in forked]
    results: dict[int, list[EpisodeRecord]] = {}
    _JOBS = (district, policies, seeds)
    try:
        with contextlib.ExitStack() as stack:
            if forked:
                pool = stack.enter_context(multiprocessing.get_context("fork").Pool(workers))
                pending = {i: pool.apply_async(_run_job, (i,)) for i in forked}
            for i in here:
                name = policies[i].name
                hook = (lambda n, name=name: on_step(name, n)) if on_step else None
                results[i] = run_policy(district, policies[i], seeds, on_step=hook)
            for i in forked:
                results[i] = pending[i].get()
                if on_step is not None:
                    on_step(policies[i].name, results[i][0].steps if results[i] else 0)
    finally:
        _JOBS = None
    return [results[i] for i in range(len(policies))]
