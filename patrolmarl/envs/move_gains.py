"""What each unit's next move is worth: the change in expected response and theft it brings.

For every unit and each of its four moves (north, south, east, west: actions
1-4), two numbers computed from the simulator's state:

- **response gain**: how many minutes the expected response of the next street
  call would fall if the unit stood in the neighbour cell instead of its own,
  ``sum_c p(c) * (eta(c) - eta_moved(c))``, where ``p`` is the hour's share of
  street calls per cell and ``eta`` the travel minutes of the nearest available
  unit (the same placement forecast as the shaped reward's response term);
- **theft gain**: how much more theft a minute of presence deters in the
  neighbour cell than in its own, as a share of the hour's theft rate:
  ``v(neighbour) - v(own)``, with ``v(x)`` the derivative of the expected thefts
  with respect to presence in ``x`` (own cell and weighted neighbours, the
  simulator's deterrence factor).

Both are zero for units on a call and for moves off the grid. They are the
coverage gradient that greedy repositioning follows (the ``coverage`` baseline)
and an optional observation field (``move_gains``) for learned policies, which
otherwise would have to infer every other unit's reach from coarse maps.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.coverage import CoverageForecast
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import is_available


class MoveGains:
    """Response and theft gains of every unit's four moves, for all B districts at once.

    ``sim`` is read at every call: a :class:`BatchedSim` or a policy's read-only
    :class:`SimView` of one. ``forecast`` is the district's forecast to read (a new
    one if not given); an environment passes its reward's, so that the nearest
    units of a state are found once for both.
    """

    def __init__(self, sim: BatchedSim | SimView, forecast: CoverageForecast | None = None) -> None:
        self.sim = sim
        if forecast is None:
            forecast = CoverageForecast(sim.district, sim.incidents)
        self.forecast = forecast

    def tables(self) -> dict[str, np.ndarray]:
        """The static arrays the gains read besides the travel matrices (for an exported card).

        ``nearby_cells`` ``(C, 5)``: the cells whose presence a cell's nearby
        presence sums, in increasing index order (-1 pads); ``nearby_weights``
        their weights (1 for the cell itself, ``neighbour_weight`` otherwise).
        """
        nearby = self.forecast.nearby
        width = int(np.diff(nearby.indptr).max())
        cells = np.full((nearby.shape[0], width), -1, dtype=np.int64)
        weights = np.zeros((nearby.shape[0], width))
        for row in range(nearby.shape[0]):
            lo, hi = nearby.indptr[row], nearby.indptr[row + 1]
            cells[row, : hi - lo] = nearby.indices[lo:hi]
            weights[row, : hi - lo] = nearby.data[lo:hi]
        rates = self.forecast.rates
        return {
            "street_share": rates.street_share,
            "theft_share": rates.theft_share,
            "nearby_cells": cells,
            "nearby_weights": weights,
        }

    def __call__(self) -> np.ndarray:
        """``(B, N, 8)`` float32: the four response gains, then the four theft gains."""
        return np.concatenate([self.response(), self.theft()], axis=2).astype(np.float32)

    def response(self, units: np.ndarray | None = None) -> np.ndarray:
        """``(B, N, 4)`` minutes the next street call's expected response falls per move.

        With a ``(B, N)`` boolean ``units``, only those units' gains are computed
        (the others read zero), each bit for bit as without it.
        """
        sim = self.sim
        cell = sim.unit_cell
        available = is_available(sim.unit_status)
        nearest, second, owner = self.forecast.nearest_available(cell, available)  # (B, C)
        bi, unit = np.nonzero(available if units is None else available & units)
        # eta without each unit: the runner-up where the unit is nearest.
        owned = np.take(owner, bi, axis=0) == unit[:, None]  # (S, C)
        without = np.where(owned, np.take(second, bi, axis=0), np.take(nearest, bi, axis=0))
        neighbour = sim.district.neighbour[cell[bi, unit]]  # (S, 4)
        moved = self.forecast.travel_from(unit[:, None], np.maximum(neighbour, 0))  # (S, 4, C)
        eta_moved = np.minimum(moved, without[:, None, :], out=moved)
        share = self.forecast.rates.street_share[sim.hour_of_day]  # (B, C)
        # eta with the unit where it is equals min(its travel, without) = nearest.
        # A district with no unit available has infinite etas; it has no unit to score.
        with np.errstate(invalid="ignore"):
            now = np.einsum("bc,bc->b", share, nearest)
            moved_eta = np.einsum("sc,smc->sm", np.take(share, bi, axis=0), eta_moved)
            gain = now[bi, None] - moved_eta
        out = np.zeros(cell.shape + (neighbour.shape[1],))
        out[bi, unit] = np.where(neighbour >= 0, gain, 0.0)
        return out

    def theft(self) -> np.ndarray:
        """``(B, N, 4)`` extra share of theft a presence-minute deters in each neighbour cell."""
        sim = self.sim
        value = self.forecast.theft_value(sim.presence, sim.hour_of_day)  # (B, C)
        cell = sim.unit_cell
        neighbour = sim.district.neighbour[cell]
        rows = np.arange(sim.batch_size)[:, None, None]
        gain = value[rows, np.maximum(neighbour, 0)] - value[rows[..., 0], cell][..., None]
        available = is_available(sim.unit_status)
        return np.where((neighbour >= 0) & available[..., None], gain, 0.0)
