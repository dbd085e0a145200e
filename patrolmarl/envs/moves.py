"""One step toward a target cell: the shortest-path step rule shared by rule-based policies
and the macro actions (:mod:`patrolmarl.envs.macro_actions`)."""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import IDLE


def moves_toward(view: SimView, target: np.ndarray) -> np.ndarray:
    """``(B, N)`` move actions taking idle units one cell closer to ``target``.

    Each unit takes the neighbour from which its own vehicle's travel time to the
    target is shortest (ties: N, S, E, W order). Action 0 where a unit is at its
    target, has none (-1), or is not idle.
    """
    d = view.district
    cell = view.unit_cell
    nb = d.neighbour[cell]  # (B, N, 4)
    travel = d.unit_travel_minutes  # (N, C, C)
    units = np.arange(d.n_units)[None, :, None]
    safe_target = np.maximum(target, 0)[..., None]
    remaining = np.where(nb >= 0, travel[units, np.maximum(nb, 0), safe_target], np.inf)
    best = np.argmin(remaining, axis=2)
    go = (target >= 0) & (target != cell) & (view.unit_status == IDLE)
    return np.where(go, best + 1, 0)
