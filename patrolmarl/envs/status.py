"""Status codes of patrol units and calls, shared by the simulators and the metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from patrolmarl.envs.district import District

# Patrol unit status. IDLE and MOVING units are available for calls.
IDLE, MOVING, EN_ROUTE, ON_SCENE = 0, 1, 2, 3
UNIT_STATUS_NAMES = ("idle", "moving", "en_route", "on_scene")

# Call status, one per call of the day. FUTURE: not yet created; DETERRED: a
# theft candidate that patrol presence prevented (it never happens).
FUTURE, PENDING, ASSIGNED, SERVED, HANDED_OVER, DETERRED = 0, 1, 2, 3, 4, 5

# Actions: 0 stay/continue, 1-4 move N/S/E/W, FIRST_ACCEPT + k accept the k-th nearest call.
N_MOVES = 4
FIRST_ACCEPT = 1 + N_MOVES


def action_count(district: District) -> int:
    """Number of actions of one unit: stay, the moves, and one accept per observed call."""
    return FIRST_ACCEPT + district.config.simulation.observed_calls


def is_available(status: np.ndarray) -> np.ndarray:
    """True where a unit can take a call: idle or moving."""
    return (status == IDLE) | (status == MOVING)
