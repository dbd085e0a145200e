"""Dynamic redeployment: re-solve the posts of the free units whenever that set changes.

The ambulance-redeployment standard (Gendreau, Laporte and Semet 2001; dynamic
MEXCLP): a static plan leaves a hole wherever a unit is busy. Here, in every
district of the batch, whenever the set of available (idle or moving) units
changes (a dispatch or a release) or the hour changes, the hour's placement
problem (:class:`~patrolmarl.agents.theft_posts.PostProblem`: response, plus
``lambda`` x thefts if ``theft > 0``) is solved for the available units only,
by interchange warm-started from their current posts. The posts found for an
(hour, available set) are cached and reused; within each vehicle type, units
are matched to the posts so that they move least. Idle units head for their
post by the shortest path; calls go to the nearest free unit.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from patrolmarl.agents.movement import moves_toward
from patrolmarl.agents.theft_posts import PostProblem, solve_posts
from patrolmarl.envs.boundary_accepts import available_units
from patrolmarl.envs.dispatch_rule import NEAREST, DispatchRule
from patrolmarl.envs.sim_view import SimView


class RedeployPolicy:
    """Re-solved posts for the free units (see the module doc); nearest dispatch.

    Parameters
    ----------
    seed
        Unused (the policy is deterministic); accepted like every baseline.
    theft
        ``lambda``, response-minutes a theft is worth; 0 (default) places for response only.

    Attributes
    ----------
    posts
        ``(B, N)`` each unit's current post, -1 for a busy unit.
    solves, cache_hits
        Re-solves requested so far, and how many of them the cache answered.
    """

    name = "redeploy"
    parameters = ("theft",)

    def __init__(self, seed: int | None = None, theft: float = 0.0) -> None:
        self.theft = float(theft)
        self._view: SimView | None = None
        self._problem: tuple[int, PostProblem] | None = None
        self._cache: dict[tuple[int, bytes], np.ndarray] = {}
        self.posts = np.zeros((0, 0), dtype=np.int64)
        self._available = np.zeros((0, 0), dtype=bool)
        self._hour = np.zeros(0, dtype=np.int64)
        self.solves = 0
        self.cache_hits = 0

    def bind(self, view: SimView) -> None:
        """Attach to the simulator (posts are solved as the day goes)."""
        self._view = view

    def reset(self, mask: np.ndarray) -> None:
        """Forget the posts of the finished districts (re-solved at their next step)."""
        n = self._view.district.n_units
        if self.posts.shape != (mask.shape[0], n):
            self.posts = np.full((mask.shape[0], n), -1, dtype=np.int64)
            self._available = np.zeros((mask.shape[0], n), dtype=bool)
            self._hour = np.full(mask.shape[0], -1, dtype=np.int64)
            return
        self.posts[mask] = -1
        self._available[mask] = False
        self._hour[mask] = -1

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Re-solve where the free set or the hour changed; head for the posts."""
        view = self._view
        if self.posts.shape[0] != view.batch_size:
            self.reset(np.ones(view.batch_size, dtype=bool))
        available = available_units(view)
        hour = view.hour_of_day
        changed = (available != self._available).any(axis=1) | (hour != self._hour)
        for b in np.flatnonzero(changed):
            self._redeploy(int(b), available[b], int(hour[b]))
        self._available = available.copy()
        self._hour = hour.copy()
        return moves_toward(view, self.posts)

    def dispatch_rule(self) -> DispatchRule:
        """Each call goes to the nearest free unit."""
        return NEAREST

    def _redeploy(self, b: int, available: np.ndarray, hour: int) -> None:
        """New posts for district ``b``'s available units; busy units get none."""
        view = self._view
        district = view.district
        units = np.flatnonzero(available)
        previous = self.posts[b, units]
        self.posts[b] = -1
        if units.size == 0:
            return
        self.solves += 1
        key = (hour, available.tobytes())
        if key in self._cache:
            self.cache_hits += 1
            sites = self._cache[key]
        else:
            start = np.where(previous >= 0, previous, view.unit_cell[b, units])
            vehicle = district.unit_vehicle[units]
            sites = solve_posts(
                self._hour_problem(hour), vehicle, starts=[start], greedy=False, certify=False
            ).sites
            self._cache[key] = sites
        self.posts[b, units] = _match(district, units, view.unit_cell[b, units], sites)

    def _hour_problem(self, hour: int) -> PostProblem:
        """The hour's placement problem (one hour kept: all days step in lockstep)."""
        if self._problem is None or self._problem[0] != hour:
            view = self._view
            self._problem = (
                hour,
                PostProblem.for_hour(view.district, view.incidents, hour, self.theft),
            )
        return self._problem[1]


def _match(district, units: np.ndarray, cells: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Give each unit one of its vehicle type's ``sites`` so that the units move least."""
    matched = sites.copy()
    vehicle = district.unit_vehicle[units]
    for v in np.unique(vehicle):
        group = np.flatnonzero(vehicle == v)
        cost = district.travel_minutes[v][cells[group][:, None], sites[group][None, :]]
        _, col = linear_sum_assignment(cost)
        matched[group] = sites[group][col]
    return matched
