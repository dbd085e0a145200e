"""Names of the patrol agents and their moves, defined once for every face.

The PettingZoo agents, the policy card, beat plans, reports and advice all
name unit ``n`` as :func:`agent_name` does and the moves as :data:`MOVE_NAMES`.
"""

from __future__ import annotations

from patrolmarl.envs.status import N_MOVES

AGENT_PREFIX = "patrol_"
# The moves of actions 1..N_MOVES, in action order.
MOVE_NAMES = ("north", "south", "east", "west")
assert len(MOVE_NAMES) == N_MOVES


def agent_name(unit: int) -> str:
    """The name of unit ``unit``: ``patrol_<unit>``."""
    return f"{AGENT_PREFIX}{unit}"


def agent_names(n_units: int) -> list[str]:
    """The names of ``n_units`` units in agent order: ``patrol_0`` .. ``patrol_{N-1}``."""
    return [agent_name(n) for n in range(n_units)]
