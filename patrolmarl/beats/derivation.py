"""Recommended beats from recorded patrol time: the fewest cells holding a share of it.

For each unit and time block, the beat is the smallest set of cells that holds
at least ``share`` of the unit's idle patrol time in the block (cells taken in
order of time, most first, so no smaller set reaches the share). Its weights
are each cell's share of that time. The dwell points are the beat's cells
where the unit waited longest, ranked.

A block in which a unit never patrolled (e.g. an episode shorter than a day)
borrows the beat of the unit's time over all blocks, or else its start cell:
a plan needs a beat for every unit in every block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patrolmarl.agents.beat_plan import BeatPlan
from patrolmarl.beats.patrol_time import PatrolTime
from patrolmarl.envs.district import District

DWELL_POINTS = 3


@dataclass(frozen=True)
class DerivedBeats:
    """Each unit's recommended beat per time block.

    Attributes
    ----------
    block_hours
        ``(K + 1,)`` block edges in hours of day.
    weights
        ``(K, N, C)`` each beat cell's share of the unit's idle patrol time in the
        block (0 outside the beat).
    kept_share
        ``(K, N)`` share of the unit's idle patrol time the beat holds.
    dwell_rank
        ``(K, N, C)`` rank (1 = longest wait) of the beat's dwell points, 0 elsewhere.
    patrol_minutes_per_day
        ``(K, N)`` the unit's idle patrol minutes per day in the block.
    borrowed
        ``(K, N)`` True where the block had no patrol time and the beat was borrowed.
    share
        The share each beat was asked to hold (None for partition beats, which
        tile the district instead).
    """

    block_hours: np.ndarray
    weights: np.ndarray
    kept_share: np.ndarray
    dwell_rank: np.ndarray
    patrol_minutes_per_day: np.ndarray
    borrowed: np.ndarray
    share: float | None

    @property
    def cells(self) -> np.ndarray:
        """``(K, N, C)`` bool: the beats."""
        return self.weights > 0

    def to_plan(self, district: District, dispatch: str = "nearest") -> BeatPlan:
        """The beats as a :class:`BeatPlan` with ``dispatch`` ("nearest" or "own_beat")."""
        return BeatPlan(district, self.block_hours[:-1].copy(), self.weights.copy(), dispatch)


def smallest_share_set(minutes: np.ndarray, share: float) -> np.ndarray:
    """Bool mask of the fewest cells whose ``minutes`` hold at least ``share`` of the total.

    Cells are taken most time first (ties: lower cell index). All-zero input gives
    an empty mask.
    """
    total = float(minutes.sum())
    mask = np.zeros(minutes.shape, dtype=bool)
    if total <= 0:
        return mask
    order = np.argsort(-minutes, kind="stable")
    held = np.cumsum(minutes[order])
    # A relative tolerance keeps share=1 from missing the last cell by rounding.
    count = int(np.searchsorted(held, share * total * (1.0 - 1e-12), side="left")) + 1
    mask[order[: min(count, minutes.size)]] = True
    return mask


def derive_beats(
    time: PatrolTime, district: District, share: float, dwell_points: int = DWELL_POINTS
) -> DerivedBeats:
    """Each unit's beat per block from its recorded patrol time (see the module docstring)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    k_blocks, n_units, n_cells = time.patrol_minutes.shape
    weights = np.zeros((k_blocks, n_units, n_cells))
    dwell_rank = np.zeros((k_blocks, n_units, n_cells), dtype=np.int64)
    kept = np.zeros((k_blocks, n_units))
    borrowed = np.zeros((k_blocks, n_units), dtype=bool)
    whole_run = time.patrol_minutes.sum(axis=0)
    whole_wait = time.wait_minutes.sum(axis=0)
    for k in range(k_blocks):
        for n in range(n_units):
            minutes, wait = time.patrol_minutes[k, n], time.wait_minutes[k, n]
            if minutes.sum() <= 0:
                borrowed[k, n] = True
                minutes, wait = whole_run[n], whole_wait[n]
            if minutes.sum() <= 0:
                minutes = np.zeros(n_cells)
                minutes[district.unit_start_cell[n]] = 1.0
            beat = smallest_share_set(minutes, share)
            weights[k, n, beat] = minutes[beat] / minutes.sum()
            kept[k, n] = weights[k, n].sum()
            dwell_rank[k, n] = dwell_ranks(np.where(beat, wait, 0.0), dwell_points)
    return DerivedBeats(
        block_hours=time.block_hours.copy(),
        weights=weights,
        kept_share=kept,
        dwell_rank=dwell_rank,
        patrol_minutes_per_day=time.patrol_minutes.sum(axis=2) / time.days,
        borrowed=borrowed,
        share=share,
    )


def dwell_ranks(wait: np.ndarray, top: int) -> np.ndarray:
    """Rank 1..top of the cells with the most waiting (only cells with some), 0 elsewhere."""
    ranks = np.zeros(wait.shape, dtype=np.int64)
    order = np.argsort(-wait, kind="stable")[:top]
    order = order[wait[order] > 0]
    ranks[order] = np.arange(1, order.size + 1)
    return ranks
