"""Command-centre dispatch rules written as agents' accept actions at a step boundary.

The baselines leave dispatch to the simulator's command centre, which acts the
instant a call arrives (:mod:`patrolmarl.envs.dispatch_rule`). A learned policy
trained under ``AGENTS`` dispatches by its own accept actions at step boundaries;
:func:`boundary_accepts` gives what a baseline's rule would accept there, the
labels a policy is cloned from (:mod:`patrolmarl.training.imitation`), and the
accepts ``advise`` recommends for a policy trained under ``NEAREST``. It lives
with the simulator (numpy alone) so that advice loads no policy code.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.dispatch_rule import DispatchRule
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import FIRST_ACCEPT, is_available


def available_units(view: SimView) -> np.ndarray:
    """``(B, N)`` True for units that can take a call (idle or moving)."""
    return is_available(view.unit_status)


def accept_nearest_unit(view: SimView, actions: np.ndarray) -> np.ndarray:
    """The "1+1" rule: each pending call, oldest first, goes to the nearest free unit.

    A unit is free if it is available and not yet chosen for an older call this
    step; the call must be among the unit's K nearest (what its accept actions
    can reach). Returns ``actions`` with the chosen units' accepts written in.
    """
    pending = view.pending_calls
    if not (pending >= 0).any():
        return actions
    actions = actions.copy()
    order = np.sort(np.where(pending >= 0, pending, np.iinfo(np.int64).max), axis=1)
    free = available_units(view).copy()
    nearest, travel = view.nearest_call, view.nearest_travel
    rows = np.arange(view.batch_size)
    n_slots = travel.shape[1] * travel.shape[2]
    for r in range(int((pending >= 0).sum(axis=1).max())):
        call = order[:, r]
        match = (nearest == call[:, None, None]) & free[..., None]
        cost = np.where(match, travel, np.inf).reshape(view.batch_size, n_slots)
        flat = np.argmin(cost, axis=1)
        ok = np.isfinite(cost[rows, flat])
        unit, k = np.divmod(flat[ok], travel.shape[2])
        actions[rows[ok], unit] = FIRST_ACCEPT + k
        free[rows[ok], unit] = False
    return actions


def accept_within_area(view: SimView, area: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Each available unit accepts the nearest pending call lying in its own area.

    ``area`` is ``(N, C)`` bool, or ``(B, N, C)`` when areas differ by district.
    Calls outside every unit's area are left for the command centre's fallback.
    Returns ``actions`` with accepts written in.
    """
    nearest = view.nearest_call
    if not (nearest >= 0).any():
        return actions
    rows = np.arange(view.batch_size)[:, None, None]
    cells = view.call_cell[rows, np.maximum(nearest, 0)]
    units = np.arange(nearest.shape[1])[None, :, None]
    in_area = area[units, cells] if area.ndim == 2 else area[rows, units, cells]
    inside = (nearest >= 0) & in_area & available_units(view)[..., None]
    has = inside.any(axis=2)
    first = np.argmax(inside, axis=2)  # nearest first: slots are sorted by travel
    return np.where(has, FIRST_ACCEPT + first, actions)


def boundary_accepts(view: SimView, rule: DispatchRule, actions: np.ndarray) -> np.ndarray:
    """``actions`` with the accepts that ``rule`` would make now written in (the rule's
    zones as of the current hour); ``AGENTS`` leaves them as they are."""
    if rule.by_agents:
        return actions
    if rule.zone is None:
        return accept_nearest_unit(view, actions)
    return accept_within_area(view, rule.zone[view.hour_of_day], actions)
