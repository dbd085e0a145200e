"""The SB3 face: B districts x N units as one :class:`VecEnv` of ``B * N`` slots.

The fast training path with parameter sharing: every patrol unit of every
district is one slot of a single shared policy. Slot ``i`` is unit ``i % N`` of
district ``i // N``. One :meth:`PatrolVecEnv.step_wait` advances the batched
core once for all B districts; observations, rewards and masks are built as
arrays and only flattened to ``(B * N, ...)`` at the boundary.

Episodes end by truncation at the day's horizon (never by termination). Then all
N slots of the district report ``done`` with their ``"terminal_observation"``
and ``"TimeLimit.truncated": True`` (so SB3 bootstraps from the value of the
final state), the district's first slot alone carries the ``"episode"`` summary
and ``"episode_metrics"`` (one episode per district in SB3's statistics), and
the district is reset in place to a new day drawn from the env's own generator.

With ``critic_state`` each slot observes its unit's observation followed by its
district's global state (:meth:`ObservationBuilder.observe_with_state`), for the
centralised critic of :mod:`patrolmarl.training.central_critic`.

Action masks reach sb3-contrib's ``MaskablePPO`` through
``env_method("action_masks")`` (one mask per slot), also through wrappers such
as ``VecNormalize``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import AGENTS, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.metrics import episode_metrics
from patrolmarl.envs.observations import ObservationBuilder, observation_bounds, state_bounds
from patrolmarl.envs.render import FrameDrawer
from patrolmarl.envs.reward import ShapedReward

_SEED_HIGH = 2**63 - 1  # day seeds are drawn in [0, 2**63 - 1), as the PettingZoo env does


class PatrolVecEnv(VecEnv):
    """B districts of N patrol units as ``B * N`` slots of one shared policy.

    Parameters
    ----------
    district
        The district simulated in every batch entry.
    n_districts
        Number of districts ``B`` stepped together.
    seed
        Seeds the generator that draws the day of every reset (initial and
        automatic); :meth:`seed` replaces it at the next :meth:`reset`.
    reward_weights
        Keyword arguments of :class:`ShapedReward` (``response``, ``waiting``,
        ``theft``, ``closure``, ``credit``). The episode return ``r`` reported
        once per district is the mean over its agents of their summed rewards.
    move_gains
        Append each unit's move gains to its observation (see
        :class:`ObservationBuilder`).
    dispatch
        Who sends street calls (:mod:`~patrolmarl.envs.dispatch_rule`): ``AGENTS``
        (the units' accept actions) or ``NEAREST`` (the command centre, at the call's
        instant; accepts are masked and the policy learns positioning only).
    critic_state
        ``None``: each slot observes its unit's observation (D entries). ``"cells"``
        or ``"blocks"``: ``[the unit's observation (D) | its district's global state
        (S) at that resolution]``; the actor of a centralised-critic policy reads the
        first D entries, its critic all of them.

    Examples
    --------
    >>> env = PatrolVecEnv(District.load("gaoxin"), n_districts=8, seed=0)
    >>> model = MaskablePPO("MlpPolicy", env, seed=0).learn(100_000)
    """

    render_mode = "rgb_array"

    def __init__(
        self,
        district: District,
        n_districts: int,
        seed: int | None = None,
        reward_weights: dict[str, float] | None = None,
        move_gains: bool = False,
        dispatch: DispatchRule = AGENTS,
        critic_state: str | None = None,
    ) -> None:
        if int(n_districts) != n_districts or n_districts < 1:
            raise ValueError(f"n_districts must be a positive integer, got {n_districts!r}")
        self.district = district
        self.n_districts = int(n_districts)
        self.sim = BatchedSim(district, batch_size=self.n_districts)
        self.sim.set_dispatch(dispatch)
        self.reward_fn = ShapedReward(self.sim, **(reward_weights or {}))
        self.builder = ObservationBuilder(
            self.sim, move_gains=move_gains, forecast=self.reward_fn.forecast
        )
        self.n_agents = self.sim.n_units
        self.critic_state = critic_state
        low, high = observation_bounds(self.builder.layout)
        if critic_state is not None:
            state_low, state_high = state_bounds(district, critic_state)
            low, high = np.concatenate([low, state_low]), np.concatenate([high, state_high])
        super().__init__(
            num_envs=self.n_districts * self.n_agents,
            observation_space=spaces.Box(low, high, dtype=np.float32),
            action_space=spaces.Discrete(self.sim.n_actions),
        )
        self._rng = np.random.default_rng(seed)
        self._actions: np.ndarray | None = None
        self._started = False
        self._episode_return = np.zeros(self.n_districts)
        self._episode_length = np.zeros(self.n_districts, dtype=np.int64)
        self._t_start = time.time()
        self._drawer: FrameDrawer | None = None

    # ------------------------------------------------------------------ episodes
    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Store ``seed`` for the next :meth:`reset` (SB3 2.x); returns the per-slot seeds.

        That reset reseeds the env's generator with ``seed``, so ``seed(s); reset()``
        starts the same sequence of days as a fresh ``PatrolVecEnv(..., seed=s)``.
        """
        return super().seed(seed)

    def reset(self) -> VecEnvObs:
        """Start a new day in every district; returns the ``(B * N, ...)`` observations."""
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        self.sim.reset(seeds=self._draw_seeds(self.n_districts))
        self._episode_return[:] = 0.0
        self._episode_length[:] = 0
        self._started = True
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self._observe()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the ``(B * N,)`` actions for :meth:`step_wait`."""
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.n_districts, self.n_agents)

    def step_wait(self) -> VecEnvStepReturn:
        """Advance every district by one step; finished districts start a new day."""
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async()")
        if not self._started:
            raise RuntimeError("step() before reset()")
        self.sim.step(self._actions)
        self._actions = None
        unit_rewards = self.reward_fn()  # (B, N), by the reward's credit
        self._episode_return += unit_rewards.sum(axis=1) / self.n_agents
        self._episode_length += 1
        rewards = unit_rewards.astype(np.float32).ravel()
        obs = self._observe()
        finished = self.sim.done
        dones = np.repeat(finished, self.n_agents)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if finished.any():
            self._end_days(finished, obs, infos)
        return obs, rewards, dones, infos

    def _end_days(self, finished: np.ndarray, obs: np.ndarray, infos: list[dict]) -> None:
        """Fill the infos of the finished districts, reset them and put their new obs in ``obs``."""
        n = self.n_agents
        elapsed = round(time.time() - self._t_start, 6)
        for b in np.flatnonzero(finished):
            first = int(b) * n
            for i in range(first, first + n):
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["TimeLimit.truncated"] = True
            infos[first]["episode"] = {
                "r": float(self._episode_return[b]),
                "l": int(self._episode_length[b]),
                "t": elapsed,
            }
            infos[first]["episode_metrics"] = episode_metrics(
                self.sim.record(int(b)), self.sim.incidents
            )
        self.sim.reset(seeds=self._draw_seeds(int(finished.sum())), mask=finished)
        self._episode_return[finished] = 0.0
        self._episode_length[finished] = 0
        slots = np.repeat(finished, n)
        obs[slots] = self._observe()[slots]

    def rng_state(self) -> dict[str, Any]:
        """State of the generator that seeds new days (saved in checkpoints)."""
        return self._rng.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Continue the sequence of days from a state saved by :meth:`rng_state`.

        Cancels a seed stored by :meth:`seed` (SB3 stores one when it loads a
        model), so the next :meth:`reset` draws its days from ``state``.
        """
        self._reset_seeds()
        self._rng.bit_generator.state = state

    def _draw_seeds(self, count: int) -> list[int]:
        return [int(s) for s in self._rng.integers(0, _SEED_HIGH, size=count)]

    def _observe(self) -> np.ndarray:
        """A fresh ``(B * N, D)`` (or ``D + S``) float32 array (SB3 keeps references to
        past observations)."""
        if self.critic_state is not None:
            return self.builder.observe_with_state(self.critic_state).reshape(self.num_envs, -1)
        return self.builder.observe().reshape(self.num_envs, -1)

    # ------------------------------------------------------------------ masks
    def action_masks(self) -> np.ndarray:
        """``(B * N, A)`` bool: which actions each slot may take now."""
        return self.sim.action_masks().reshape(self.num_envs, -1)

    def _slot_mask(self, index: int) -> np.ndarray:
        """``(A,)`` bool mask of slot ``index`` (what ``get_attr("action_masks")`` hands out)."""
        return self.action_masks()[index]

    # ------------------------------------------------------------------ VecEnv plumbing
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vec env's attribute once per index; ``action_masks`` gives per-slot callables."""
        idx = list(self._get_indices(indices))
        if attr_name == "action_masks":
            return [partial(self._slot_mask, i) for i in idx]
        value = getattr(self, attr_name)
        return [value] * len(idx)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set the attribute on the vec env itself (shared by all slots)."""
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call the vec env's method once; its result replicated per index.

        ``"action_masks"`` returns each selected slot's own ``(A,)`` mask instead,
        as sb3-contrib's ``get_action_masks`` expects.
        """
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in idx]
        method: Callable[..., Any] = getattr(self, method_name)
        result = method(*method_args, **method_kwargs)
        return [result] * len(idx)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """No slot is a wrapped gymnasium env."""
        return [False] * len(list(self._get_indices(indices)))

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """``(H, W, 3)`` uint8 frame of district 0."""
        if mode not in (None, "rgb_array"):
            raise ValueError(f"render mode {mode!r} is not supported; use 'rgb_array'")
        if not self._started:
            raise RuntimeError("render() before reset()")
        if self._drawer is None:
            self._drawer = FrameDrawer(self.sim)
        return self._drawer.draw(0)

    def get_images(self) -> Sequence[np.ndarray | None]:
        """One frame, of district 0 (see :meth:`render`)."""
        return [self.render()]

    def close(self) -> None:
        """Release the drawing buffers (nothing else is held)."""
        self._drawer = None
