"""The Policy protocol, the read-only view of the simulator, and the SB3-style adapter.

Every policy the evaluator scores (baselines, beat plans, trained SB3 models,
ONNX files) implements :class:`Policy`: batched ``act(observations,
action_masks) -> actions`` over ``(B, N, ...)`` arrays. Policies that need more
than the observation (the baselines read unit positions and pending calls) get
it from a :class:`SimView`, a read-only window on the simulator's state, passed
once by :meth:`Policy.bind`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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


@runtime_checkable
class Policy(Protocol):
    """A batched policy over all districts and agents of a :class:`BatchedSim`."""

    name: str

    def bind(self, view: SimView) -> None:
        """Attach to a simulator before the first episode (static set-up goes here)."""

    def reset(self, mask: np.ndarray) -> None:
        """Forget per-episode memory of the districts where ``mask`` is True."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """``(B, N)`` actions from ``(B, N, D)`` observations and ``(B, N, A)`` masks."""


class SB3PredictAdapter:
    """Gives a :class:`Policy` SB3's ``predict`` signature over flattened agent slots.

    SB3 vector environments present ``B * N`` agent slots of one shared policy;
    ``predict`` takes their ``(B * N, D)`` observations and returns
    ``(actions, state)`` as an SB3 model does. Masks are read from the
    ``action_masks`` callable (as sb3-contrib's MaskablePPO does).
    """

    def __init__(self, policy: Policy, n_agents: int, action_masks) -> None:
        self.policy = policy
        self.n_agents = n_agents
        self._action_masks = action_masks

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for ``(B * N, D)`` observations, SB3-style."""
        obs = np.asarray(observation).reshape(-1, self.n_agents, observation.shape[-1])
        masks = np.asarray(self._action_masks()).reshape(obs.shape[0], self.n_agents, -1)
        if episode_start is not None:
            started = np.asarray(episode_start, dtype=bool).reshape(-1, self.n_agents).any(axis=1)
            if started.any():
                self.policy.reset(started)
        return self.policy.act(obs, masks).reshape(-1), state
