"""Moving units around the grid: random patrol of an area (and, from
:mod:`patrolmarl.envs.moves`, one step toward a target)."""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.moves import moves_toward
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import IDLE


class AreaPatrol:
    """Random patrol of an area: walk to a cell drawn from the area's weights, dwell, repeat.

    Parameters
    ----------
    weights
        ``(N, C)`` or, for areas that change by time block, ``(K, N, C)``
        non-negative weight of each cell in each unit's area (zero outside it).
        Targets are drawn with probability proportional to it.
    dwell_minutes
        How long a unit stays at a reached target before drawing the next one
        (Koper's 10-16 minute stops suggest about 15).
    rng
        The policy's generator.
    """

    def __init__(self, weights: np.ndarray, dwell_minutes: float, rng: np.random.Generator) -> None:
        blocks = weights if weights.ndim == 3 else weights[None]
        totals = blocks.sum(axis=2, keepdims=True)
        if (totals <= 0).any():
            raise ValueError("every unit needs an area with positive weight")
        self._inside = blocks > 0
        self._cdf = np.cumsum(blocks / totals, axis=2)
        self._dwell = dwell_minutes
        self._rng = rng
        self.target = np.zeros((0, blocks.shape[1]), dtype=np.int64)
        self._dwell_until = np.zeros((0, blocks.shape[1]))

    def reset(self, batch_size: int, mask: np.ndarray | None = None) -> None:
        """Clear targets of the districts in ``mask`` (all when None)."""
        if self.target.shape[0] != batch_size or mask is None:
            n = self._cdf.shape[1]
            self.target = np.full((batch_size, n), -1, dtype=np.int64)
            self._dwell_until = np.full((batch_size, n), np.nan)
            return
        self.target[mask] = -1
        self._dwell_until[mask] = np.nan

    def actions(self, view: SimView, block: np.ndarray | None = None) -> np.ndarray:
        """``(B, N)`` move/stay actions for idle units; 0 for the others.

        ``block`` is the ``(B,)`` time block of each district (areas given per
        block); a target outside the current block's area is drawn again.
        """
        if self.target.shape[0] != view.batch_size:
            self.reset(view.batch_size)
        block = np.zeros(view.batch_size, dtype=np.int64) if block is None else block
        units = np.arange(self.target.shape[1])[None, :]
        now = np.broadcast_to(view.now[:, None], self.target.shape)
        idle = view.unit_status == IDLE
        arrived = idle & (view.unit_cell == self.target)
        start_dwell = arrived & np.isnan(self._dwell_until)
        self._dwell_until[start_dwell] = now[start_dwell] + self._dwell
        stale = ~self._inside[block[:, None], units, np.maximum(self.target, 0)]
        need = idle & ((self.target < 0) | stale | (arrived & (self._dwell_until <= now)))
        bi, ni = np.nonzero(need)
        if bi.size:
            u = self._rng.random(bi.size)
            cdf = self._cdf[block[bi], ni]
            self.target[bi, ni] = np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)
            self._dwell_until[bi, ni] = np.nan
        return moves_toward(view, self.target)
