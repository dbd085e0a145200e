"""The SB3 face of the macro actions (:mod:`patrolmarl.envs.post_orders`): units choose
among candidate posts under the command centre's nearest dispatch."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from patrolmarl.envs.dispatch_rule import NEAREST
from patrolmarl.envs.district import District
from patrolmarl.envs.post_orders import (
    DEFAULT_DWELL_MINUTES,
    PostOrders,
    macro_bounds,
    macro_layout,
)
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.vec_env import PatrolVecEnv


class MacroActionVecEnv(PatrolVecEnv):
    """:class:`PatrolVecEnv` under nearest dispatch whose units choose among candidate posts.

    Slots, rewards, dones and infos (``terminal_observation`` included, in this
    env's observation space) are those of :class:`PatrolVecEnv`; the actions are
    ``Discrete(1 + P)`` and the observations carry the macro fields
    (:mod:`~patrolmarl.envs.post_orders`). A subclass rather than a wrapper, so
    that the terminal observation of a finished day is taken before the day is
    reset.

    Parameters
    ----------
    district, n_districts, seed, reward_weights, move_gains
        As :class:`PatrolVecEnv`.
    posts
        ``(24, P)`` candidate cells per clock hour.
    dwell_minutes
        How long a unit stands at its post before it chooses again.
    """

    def __init__(
        self,
        district: District,
        n_districts: int,
        posts: np.ndarray,
        dwell_minutes: float = DEFAULT_DWELL_MINUTES,
        seed: int | None = None,
        reward_weights: dict[str, float] | None = None,
        move_gains: bool = False,
    ) -> None:
        super().__init__(
            district,
            n_districts,
            seed=seed,
            reward_weights=reward_weights,
            move_gains=move_gains,
            dispatch=NEAREST,
        )
        self.orders = PostOrders(SimView(self.sim), posts, dwell_minutes)
        self.layout = macro_layout(district, self.orders.n_posts, move_gains)
        extra_low, extra_high = macro_bounds(district, self.orders.n_posts)
        plain: spaces.Box = self.observation_space  # type: ignore[assignment]
        self.observation_space = spaces.Box(
            np.concatenate([plain.low, extra_low]),
            np.concatenate([plain.high, extra_high]),
            dtype=np.float32,
        )
        self.action_space = spaces.Discrete(self.orders.n_actions)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the ``(B * N,)`` macro actions, as the core's stay/move actions."""
        super().step_async(self.orders.primitive_actions(actions))

    def _observe(self) -> np.ndarray:
        """The plain observations with the macro fields, orders refreshed (new days: cleared)."""
        self.orders.clear(self.sim.step_count == 0)
        self.orders.refresh()
        plain = super()._observe().reshape(self.n_districts, self.n_agents, -1)
        features = self.orders.features()
        return np.concatenate([plain, features], axis=2).reshape(self.num_envs, -1)

    def action_masks(self) -> np.ndarray:
        """``(B * N, 1 + P)`` bool: which macro actions each slot may take now."""
        return self.orders.masks().reshape(self.num_envs, -1)
