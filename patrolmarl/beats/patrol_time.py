"""Where each unit patrols when it is free: idle patrol minutes by time block, unit and cell.

A unit is on patrol when it is IDLE (standing in a cell) or MOVING (between
cells) — free for calls, not en route to or at one. :class:`PatrolTimeRecorder`
observes a run step by step (as :func:`run_policy`'s ``observe`` hook) and adds
each patrolling unit's step to its cell in the time block of the day. It also
counts *waiting*: a unit standing IDLE in one cell waits from the
``wait_minutes``-th minute of its stay on (shorter stays are pauses between moves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from patrolmarl.agents.policy import Policy
from patrolmarl.envs.district import District
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import IDLE, is_available
from patrolmarl.evaluation.runner import run_policy

# A stay shorter than this is a pause, not a wait.
WAIT_MINUTES = 5.0


@dataclass(frozen=True)
class PatrolTime:
    """Idle patrol time of a run, summed over its days.

    Attributes
    ----------
    block_hours
        ``(K + 1,)`` block edges in hours of day, from 0 to 24.
    patrol_minutes
        ``(K, N, C)`` minutes each unit spent on patrol (IDLE or MOVING) in each cell.
    wait_minutes
        ``(K, N, C)`` of those, minutes spent waiting (IDLE in one cell for a while).
    days
        Number of days recorded.
    """

    block_hours: np.ndarray
    patrol_minutes: np.ndarray
    wait_minutes: np.ndarray
    days: int


def block_edges(n_blocks: int) -> np.ndarray:
    """``(K + 1,)`` edges of ``n_blocks`` equal blocks of the day, in hours."""
    return np.linspace(0.0, 24.0, n_blocks + 1)


class PatrolTimeRecorder:
    """Accumulates :class:`PatrolTime` from the views of a run (call it before every step).

    Parameters
    ----------
    district
        The simulated district.
    n_blocks
        Number of equal time blocks of the day.
    wait_minutes
        Shortest stay in one cell that counts as waiting.
    """

    def __init__(self, district: District, n_blocks: int, wait_minutes: float = WAIT_MINUTES):
        self._edges = block_edges(n_blocks)
        self._shape = (n_blocks, district.n_units, district.n_cells)
        self._patrol = np.zeros(self._shape)
        self._wait = np.zeros(self._shape)
        self._wait_minutes = wait_minutes
        self._start_hour = district.config.simulation.start_hour
        self._last_cell: np.ndarray | None = None
        self._stay: np.ndarray | None = None

    def __call__(self, view: SimView) -> None:
        """Add this step's patrolling units to their cells and blocks."""
        status, cell = view.unit_status, view.unit_cell
        step = view.step_minutes
        if self._last_cell is None:
            self._last_cell = np.full(cell.shape, -1)
            self._stay = np.zeros(cell.shape)
        hour = (self._start_hour + view.now / 60.0) % 24.0
        block = np.searchsorted(self._edges, hour, side="right") - 1  # (B,)
        k = np.broadcast_to(block[:, None], cell.shape)
        n = np.broadcast_to(np.arange(cell.shape[1])[None, :], cell.shape)
        index = np.ravel_multi_index((k, n, cell), self._shape)
        size = self._patrol.size
        on_patrol = is_available(status)
        self._patrol += np.bincount(index[on_patrol], minlength=size).reshape(self._shape) * step
        # Waiting: a stay's steps from its wait_minutes-th minute on.
        idle = status == IDLE
        self._stay = np.where(idle & (cell == self._last_cell), self._stay + step, idle * step)
        self._last_cell = np.where(idle, cell, -1)
        waiting = idle & (self._stay >= self._wait_minutes)
        self._wait += np.bincount(index[waiting], minlength=size).reshape(self._shape) * step

    def result(self, days: int) -> PatrolTime:
        """The time recorded so far, over ``days`` days."""
        return PatrolTime(self._edges, self._patrol.copy(), self._wait.copy(), days)


def record_patrol_time(
    district: District,
    policy: Policy,
    seeds: Sequence[Sequence[int]],
    n_blocks: int,
    on_step: Callable[[int], None] | None = None,
) -> PatrolTime:
    """Run ``policy`` on the seeded days (one batch) and record its idle patrol time."""
    recorder = PatrolTimeRecorder(district, n_blocks)
    run_policy(district, policy, seeds, on_step=on_step, observe=recorder)
    return recorder.result(len(seeds))
