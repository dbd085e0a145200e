"""The Policy protocol and the SB3-style adapter.

Every policy the evaluator scores (baselines, beat plans, trained SB3 models,
ONNX files) implements :class:`Policy`: batched ``act(observations,
action_masks) -> actions`` over ``(B, N, ...)`` arrays. Policies that need more
than the observation (the baselines read unit positions and pending calls) get
it from a :class:`~patrolmarl.envs.sim_view.SimView`, a read-only window on the
simulator's state, passed once by :meth:`Policy.bind`. A policy that leaves
calls to the command centre says so with a ``dispatch_rule()`` method (see
:func:`policy_dispatch`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from patrolmarl.envs.dispatch_rule import AGENTS, DispatchRule
from patrolmarl.envs.sim_view import SimView


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


def policy_dispatch(policy: Policy) -> DispatchRule:
    """The dispatch rule ``policy`` runs under (after :meth:`Policy.bind`): its
    ``dispatch_rule()`` if it has one, else ``AGENTS`` (its accept actions dispatch)."""
    rule = getattr(policy, "dispatch_rule", None)
    return AGENTS if rule is None else rule()


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
