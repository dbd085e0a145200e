"""The PettingZoo face of the macro actions (:mod:`patrolmarl.envs.post_orders`): the agents
of one district-day choose among candidate posts under the command centre's nearest dispatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from patrolmarl.envs.dispatch_rule import NEAREST
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import observation_bounds
from patrolmarl.envs.pettingzoo_env import PatrolParallelEnv
from patrolmarl.envs.post_orders import (
    DEFAULT_DWELL_MINUTES,
    PostOrders,
    macro_bounds,
    macro_layout,
)
from patrolmarl.envs.sim_view import SimView


class MacroParallelEnv(PatrolParallelEnv):
    """:class:`PatrolParallelEnv` under nearest dispatch whose agents choose among posts.

    Rewards, terminations, truncations and ``episode_metrics`` are the plain
    env's; actions are ``Discrete(1 + P)``, observations carry the macro fields
    and ``infos[agent]["action_mask"]`` is the macro mask
    (:mod:`~patrolmarl.envs.post_orders`), as in
    :class:`~patrolmarl.envs.macro_actions.MacroActionVecEnv`.

    Parameters
    ----------
    district, seed, render_mode, max_cycles, reward_weights, move_gains, overrides
        As :class:`PatrolParallelEnv`.
    posts
        ``(24, P)`` candidate cells per clock hour.
    dwell_minutes
        How long a unit stands at its post before it chooses again.
    """

    def __init__(
        self,
        district: str | Path | District = "gaoxin",
        *,
        posts: np.ndarray,
        dwell_minutes: float = DEFAULT_DWELL_MINUTES,
        seed: int | None = None,
        render_mode: str | None = None,
        max_cycles: int | None = None,
        reward_weights: dict[str, float] | None = None,
        move_gains: bool = False,
        **overrides: Any,
    ) -> None:
        super().__init__(
            district,
            seed=seed,
            render_mode=render_mode,
            max_cycles=max_cycles,
            reward_weights=reward_weights,
            move_gains=move_gains,
            dispatch=NEAREST,
            **overrides,
        )
        self.orders = PostOrders(SimView(self.sim), posts, dwell_minutes)
        n_posts = self.orders.n_posts
        self.layout = macro_layout(self.district, n_posts, move_gains)
        low, high = observation_bounds(self.builder.layout)
        extra_low, extra_high = macro_bounds(self.district, n_posts)
        low, high = np.concatenate([low, extra_low]), np.concatenate([high, extra_high])
        self.observation_spaces = {
            a: gymnasium.spaces.Box(low, high, dtype=np.float32) for a in self.possible_agents
        }
        self.action_spaces = {
            a: gymnasium.spaces.Discrete(self.orders.n_actions) for a in self.possible_agents
        }

    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        """The agent's ``Discrete(1 + P)`` action space (the same object each call)."""
        return self.action_spaces[agent]

    def _core_actions(self, joint: np.ndarray) -> np.ndarray:
        """The stay/move actions toward the posts, after giving the deciding units theirs."""
        return self.orders.primitive_actions(joint)

    def _observations(self) -> dict[str, np.ndarray]:
        """The plain observations with the macro fields, orders refreshed (a new day: cleared)."""
        self.orders.clear(self.sim.step_count == 0)
        self.orders.refresh()
        features = self.orders.features()[0]
        plain = super()._observations()
        return {a: np.concatenate([plain[a], features[i]]) for i, a in enumerate(plain)}

    def _infos(self, final: bool) -> dict[str, dict]:
        """The plain infos with the macro action masks."""
        infos = super()._infos(final)
        masks = self.orders.masks()[0].astype(np.int8)
        for i, info in enumerate(infos.values()):
            info["action_mask"] = masks[i]
        return infos
