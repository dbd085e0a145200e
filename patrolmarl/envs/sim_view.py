"""A read-only view of a :class:`BatchedSim`'s state, for what acts on it without changing it.

Rule-based policies (the baselines read unit positions and pending calls) get
one from the evaluator through :meth:`patrolmarl.agents.policy.Policy.bind`; the
move gains (:mod:`patrolmarl.envs.move_gains`) read one as they read the simulator.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class SimView:
    """Read-only access to a :class:`BatchedSim`'s state for rule-based policies.

    Every array property returns a non-writeable view of the live state, so it
    reflects the current step and cannot be changed by a policy.
    """

    def __init__(self, sim: BatchedSim) -> None:
        self._sim = sim

    @property
    def district(self) -> District:
        """The simulated district (static data)."""
        return self._sim.district

    @property
    def incidents(self) -> IncidentModel:
        """The district's call intensities."""
        return self._sim.incidents

    @property
    def batch_size(self) -> int:
        """Number of districts ``B``."""
        return self._sim.batch_size

    @property
    def step_minutes(self) -> float:
        """Minutes per step."""
        return self._sim.step_minutes

    @property
    def now(self) -> np.ndarray:
        """``(B,)`` minutes since each episode started."""
        return _read_only(self._sim.now)

    @property
    def hour_of_day(self) -> np.ndarray:
        """``(B,)`` hour of day."""
        return _read_only(self._sim.hour_of_day)

    @property
    def unit_cell(self) -> np.ndarray:
        """``(B, N)`` each unit's cell (for a moving unit, the cell it left)."""
        return _read_only(self._sim.unit_cell)

    @property
    def unit_status(self) -> np.ndarray:
        """``(B, N)`` status codes (:mod:`patrolmarl.envs.status`)."""
        return _read_only(self._sim.unit_status)

    @property
    def presence(self) -> np.ndarray:
        """``(B, C)`` patrol-minutes of presence per cell (decayed; see the core's step 6)."""
        return _read_only(self._sim.presence)

    @property
    def pending_calls(self) -> np.ndarray:
        """``(B, Q)`` day-call index of each pending street call, -1 for an empty slot."""
        return _read_only(self._sim.pending)

    @property
    def call_cell(self) -> np.ndarray:
        """``(B, D)`` cell of each call of the day (index with :attr:`pending_calls`)."""
        return _read_only(self._sim.calls.cell)

    @property
    def call_time(self) -> np.ndarray:
        """``(B, D)`` creation time of each call of the day (minutes from the start)."""
        return _read_only(self._sim.calls.time)

    @property
    def nearest_call(self) -> np.ndarray:
        """``(B, N, K)`` each unit's K nearest pending calls (the accept actions' targets)."""
        return _read_only(self._sim.nearest_call)

    @property
    def nearest_travel(self) -> np.ndarray:
        """``(B, N, K)`` travel minutes to those calls (inf for an empty slot)."""
        return _read_only(self._sim.nearest_travel)
