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

from typing import TYPE_CHECKING

import numpy as np

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.incidents import deterrence_slope, nearby_matrix
from patrolmarl.envs.status import is_available

if TYPE_CHECKING:
    from patrolmarl.envs.sim_view import SimView


class MoveGains:
    """Response and theft gains of every unit's four moves, for all B districts at once.

    ``sim`` is read at every call: a :class:`BatchedSim` or a policy's read-only
    :class:`SimView` of one.
    """

    def __init__(self, sim: BatchedSim | SimView) -> None:
        self.sim = sim
        d = sim.district
        incidents = sim.incidents
        self._street_share = _hourly_share(incidents.street_rate_per_minute())  # (24, C)
        rate = incidents.rate_per_minute
        self._theft_share = _hourly_share(rate[:, incidents.deterrable, :].sum(axis=1))
        self._travel = d.unit_travel_minutes.astype(np.float32)  # (N, C, C)
        self._units = np.arange(d.n_units)
        self._deterrence = d.config.deterrence
        self._nearby = nearby_matrix(d.neighbour, self._deterrence.neighbour_weight)

    def __call__(self) -> np.ndarray:
        """``(B, N, 8)`` float32: the four response gains, then the four theft gains."""
        return np.concatenate([self.response(), self.theft()], axis=2).astype(np.float32)

    def response(self) -> np.ndarray:
        """``(B, N, 4)`` minutes the next street call's expected response falls per move."""
        sim = self.sim
        units = self._units
        cell = sim.unit_cell
        available = is_available(sim.unit_status)
        travel = np.where(available[..., None], self._travel[units, cell], np.inf)  # (B, N, C)
        if travel.shape[1] > 1:
            nearest, second = np.partition(travel, 1, axis=1)[:, :2].transpose(1, 0, 2)
        else:
            nearest, second = travel[:, 0], np.full_like(travel[:, 0], np.inf)
        owner = travel.argmin(axis=1)  # (B, C)
        # eta without each unit: the runner-up where the unit is nearest.
        own = owner[:, None, :] == units[None, :, None]
        without = np.where(own, second[:, None], nearest[:, None])
        neighbour = sim.district.neighbour[cell]  # (B, N, 4)
        moved = self._travel[units[None, :, None], np.maximum(neighbour, 0)]  # (B, N, 4, C)
        eta_moved = np.minimum(moved, without[:, :, None, :])
        share = self._street_share[sim.hour_of_day]  # (B, C)
        # eta with the unit where it is equals min(its travel, without) = nearest.
        # A district with no unit available has infinite etas; its gains are masked.
        with np.errstate(invalid="ignore"):
            now = np.einsum("bc,bc->b", share, nearest)
            gain = now[:, None, None] - np.einsum("bc,bnmc->bnm", share, eta_moved)
        return np.where((neighbour >= 0) & available[..., None], gain, 0.0)

    def theft(self) -> np.ndarray:
        """``(B, N, 4)`` extra share of theft a presence-minute deters in each neighbour cell."""
        sim = self.sim
        nearby = (self._nearby @ sim.presence.T).T  # (B, C)
        share = self._theft_share[sim.hour_of_day]
        deterred = -share * deterrence_slope(nearby, self._deterrence)
        value = (self._nearby.T @ deterred.T).T  # (B, C): thefts deterred per presence-minute there
        cell = sim.unit_cell
        neighbour = sim.district.neighbour[cell]
        rows = np.arange(sim.batch_size)[:, None, None]
        gain = value[rows, np.maximum(neighbour, 0)] - value[rows[..., 0], cell][..., None]
        available = is_available(sim.unit_status)
        return np.where((neighbour >= 0) & available[..., None], gain, 0.0)


def _hourly_share(rate: np.ndarray) -> np.ndarray:
    """``(24, C)`` each cell's share of the hour's rate (zero in an hour without any)."""
    totals = rate.sum(axis=1, keepdims=True)
    return np.divide(rate, totals, out=np.zeros_like(rate), where=totals > 0)
