"""Who sends street calls to units: the agents, or the command centre the moment a call comes in.

A :class:`DispatchRule` is given to a simulator with ``set_dispatch``:

- ``AGENTS`` (the default): units accept calls by their accept actions at step
  boundaries; a call still pending ``fallback_minutes`` after it was made goes to
  the command centre, which sends the nearest available unit at that instant.
- ``NEAREST`` (the "1+1" rule): the command centre sends every street call, the
  instant it is made, to the nearest available unit.
- :func:`zone_rule`: the command centre sends a call the instant it is made to
  the nearest available unit whose zone holds the call's cell; after
  ``fallback_minutes`` any available unit may take it.

Under every rule a call that finds no eligible unit waits, and the first
eligible unit to be released (the instant its service ends) takes the oldest
waiting call. Under the command-centre rules units cannot accept calls
themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOURS = 24
# Which units the command centre may send to a pending call (its "stage"): none (the
# call is the agents'), the units whose zone holds its cell, or any unit.
NO_UNIT, ZONE_UNITS, ANY_UNIT = 0, 1, 2


@dataclass(frozen=True, eq=False)
class DispatchRule:
    """A dispatch rule; ``zone`` is ``(24, N, C)`` bool (zone rule only): unit n may take a
    call of cell c in hour h of the day."""

    kind: str
    zone: np.ndarray | None = None

    @property
    def by_agents(self) -> bool:
        """True when units' accept actions dispatch calls."""
        return self.kind == "agents"

    @property
    def arrival_stage(self) -> int:
        """The stage of a street call when it arrives: who may take it at once."""
        return {"agents": NO_UNIT, "zone": ZONE_UNITS}.get(self.kind, ANY_UNIT)


AGENTS = DispatchRule("agents")
NEAREST = DispatchRule("nearest")
#: The rules a learned policy can be trained and run under, by name (a training config's
#: ``dispatch``, a policy card's ``dispatch.rule``): under ``nearest`` it learns positioning only.
LEARNED_RULES = {rule.kind: rule for rule in (AGENTS, NEAREST)}


def zone_rule(area: np.ndarray) -> DispatchRule:
    """The zone rule from ``area``: ``(N, C)`` bool (fixed zones) or ``(24, N, C)`` (by hour)."""
    area = np.asarray(area, dtype=bool)
    if area.ndim == 2:
        area = np.broadcast_to(area, (HOURS, *area.shape))
    if area.ndim != 3 or area.shape[0] != HOURS:
        raise ValueError(f"zone area must be (N, C) or (24, N, C), got shape {area.shape}")
    return DispatchRule("zone", np.ascontiguousarray(area))
