"""The PettingZoo face: one district-day as a :class:`pettingzoo.ParallelEnv`.

A thin shell over a :class:`BatchedSim` with ``B = 1`` and an
:class:`ObservationBuilder`; arrays become per-agent dicts only here. Agents are
``patrol_0 ... patrol_{N-1}``. Each step is ``step_minutes`` of the day; the
episode ends by truncation at the horizon (never by termination), and the
final infos carry the day's metrics under ``"episode_metrics"`` (one dict,
shared by all agents). Every info holds the agent's ``"action_mask"`` (int8,
1 = allowed); a forbidden action is taken as 0 (stay / continue). The reward is
the shared shaped team reward of :mod:`patrolmarl.envs.reward`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from patrolmarl.envs.config import load_district_config
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import AGENTS, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.metrics import episode_metrics
from patrolmarl.envs.names import agent_names
from patrolmarl.envs.observations import (
    ObservationBuilder,
    observation_bounds,
    state_bounds,
)
from patrolmarl.envs.render import FrameDrawer, text_frame
from patrolmarl.envs.reward import ShapedReward


def load_district(
    district: str | Path | District = "gaoxin", max_cycles: int | None = None, **overrides: Any
) -> District:
    """A district by built-in name or YAML path, with overrides and an optional horizon.

    Parameters
    ----------
    district
        Built-in name, YAML path, or an already built :class:`District` (then no
        overrides are allowed).
    max_cycles
        Episode length in steps: sets ``episode_minutes = max_cycles * step_minutes``.
    **overrides
        Simulation keys (``fallback_minutes=3``) or dotted paths
        (``**{"deterrence.max_reduction": 0.5}``), as :meth:`District.load`.
    """
    if isinstance(district, District):
        if overrides or max_cycles is not None:
            raise ValueError("overrides and max_cycles need a district name or path")
        return district
    if max_cycles is None:
        return District.load(district, **overrides)
    if int(max_cycles) != max_cycles or max_cycles < 1:
        raise ValueError(f"max_cycles must be a positive integer, got {max_cycles!r}")
    if "episode_minutes" in overrides or "simulation.episode_minutes" in overrides:
        raise ValueError("give either max_cycles or episode_minutes, not both")
    step = load_district_config(district, overrides or None).simulation.step_minutes
    overrides["episode_minutes"] = int(max_cycles) * step
    return District.load(district, **overrides)


class PatrolParallelEnv(ParallelEnv):
    """One district-day of street patrol; agents are the patrol units.

    Parameters
    ----------
    district
        A :class:`District`, or a built-in name / YAML path loaded with ``overrides``.
    seed
        Seeds the generator that draws the day of a :meth:`reset` without a seed.
    render_mode
        None, ``"rgb_array"`` (an image), ``"ansi"`` (the text of
        :func:`~patrolmarl.envs.render.text_frame`) or ``"human"`` (that text printed).
    max_cycles
        Episode length in steps (overrides ``episode_minutes``).
    reward_weights
        Keyword arguments of :class:`ShapedReward` (``response``, ``waiting``,
        ``theft``, ``closure``).
    move_gains
        Append each unit's move gains to its observation (see
        :class:`ObservationBuilder`).
    dispatch
        Who sends street calls: ``AGENTS`` (the agents' accept actions, the default)
        or ``NEAREST`` (the command centre; accepts are masked), see
        :mod:`~patrolmarl.envs.dispatch_rule`.
    **overrides
        District overrides, as :func:`load_district`.
    """

    metadata = {
        "name": "patrol_v0",
        "render_modes": ["human", "ansi", "rgb_array"],
        "is_parallelizable": True,
        "render_fps": 10,
    }

    def __init__(
        self,
        district: str | Path | District = "gaoxin",
        *,
        seed: int | None = None,
        render_mode: str | None = None,
        max_cycles: int | None = None,
        reward_weights: dict[str, float] | None = None,
        move_gains: bool = False,
        dispatch: DispatchRule = AGENTS,
        **overrides: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} is not supported; "
                f"use one of {self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        self.district = load_district(district, max_cycles, **overrides)
        self.sim = BatchedSim(self.district, batch_size=1)
        self.sim.set_dispatch(dispatch)
        self.reward_fn = ShapedReward(self.sim, **(reward_weights or {}))
        self.builder = ObservationBuilder(
            self.sim, move_gains=move_gains, forecast=self.reward_fn.forecast
        )
        self.max_cycles = self.sim.n_steps
        self.possible_agents = agent_names(self.sim.n_units)
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        low, high = observation_bounds(self.builder.layout)
        self.observation_spaces = {
            a: gymnasium.spaces.Box(low, high, dtype=np.float32) for a in self.possible_agents
        }
        self.action_spaces = {
            a: gymnasium.spaces.Discrete(self.sim.n_actions) for a in self.possible_agents
        }
        self.state_space = gymnasium.spaces.Box(*state_bounds(self.district), dtype=np.float32)
        self._rng = np.random.default_rng(seed)
        self._drawer: FrameDrawer | None = None
        self._started = False

    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        """The agent's ``Box(D,)`` float32 observation space (the same object each call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        """The agent's ``Discrete(5 + K)`` action space (the same object each call)."""
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ episode
    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start a new day.

        The day is drawn from ``seed`` itself (the same day as ``BatchedSim.reset``
        with that seed); the env's generator is reseeded with it, so that later
        resets without a seed continue a reproducible sequence of days.
        ``options`` is accepted and ignored.
        """
        if seed is not None:
            day_seed = int(seed)
            self._rng = np.random.default_rng(day_seed)
        else:
            day_seed = int(self._rng.integers(0, 2**63 - 1))
        self.sim.reset(seeds=[day_seed])
        self.agents = self.possible_agents[:]
        self._started = True
        obs = self._observations()
        return obs, self._infos(final=False)

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict],
    ]:
        """Advance the day by one step; agents missing from ``actions`` stay (action 0)."""
        if not self.agents:
            raise RuntimeError("step() with no live agents: call reset() first")
        joint = np.zeros((1, self.sim.n_units), dtype=np.int64)
        for agent, action in actions.items():
            if agent not in self._index:
                raise KeyError(f"unknown agent {agent!r}")
            if action is None:
                continue
            a, n_actions = int(action), int(self.action_spaces[agent].n)
            if not 0 <= a < n_actions:
                raise ValueError(f"action {a} of {agent} is outside Discrete({n_actions})")
            joint[0, self._index[agent]] = a
        self.sim.step(self._core_actions(joint))
        reward = self.reward_fn()[0]
        done = bool(self.sim.done[0])
        obs = self._observations()
        rewards = {a: float(reward[i]) for i, a in enumerate(self.possible_agents)}
        terminations = dict.fromkeys(self.possible_agents, False)
        truncations = dict.fromkeys(self.possible_agents, done)
        infos = self._infos(final=done)
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _core_actions(self, joint: np.ndarray) -> np.ndarray:
        """The ``(1, N)`` actions of the core for the agents' joint action (the same here)."""
        return joint

    def _observations(self) -> dict[str, np.ndarray]:
        obs = self.builder.observe()[0]
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}

    def _infos(self, final: bool) -> dict[str, dict]:
        masks = self.sim.action_masks()[0].astype(np.int8)
        infos = {a: {"action_mask": masks[i]} for i, a in enumerate(self.possible_agents)}
        if final:
            metrics = episode_metrics(self.sim.record(0), self.sim.incidents)
            for info in infos.values():
                info["episode_metrics"] = metrics
        return infos

    # ------------------------------------------------------------------ extras
    def state(self) -> np.ndarray:
        """``(S,)`` float32 global state (see :meth:`ObservationBuilder.state`)."""
        if not self._started:
            raise RuntimeError("state() before reset()")
        return self.builder.state()[0]

    def render(self) -> np.ndarray | str | None:
        """The frame of the render mode: ``(H, W, 3)`` uint8 image (``"rgb_array"``), text
        (``"ansi"``), or None after printing the text (``"human"``); None with a warning
        without a render mode."""
        if self.render_mode is None:
            warnings.warn(
                "render() called without a render_mode; pass render_mode='rgb_array', "
                "'ansi' or 'human'",
                stacklevel=2,
            )
            return None
        if not self._started:
            raise RuntimeError("render() before reset()")
        if self.render_mode == "ansi":
            return text_frame(self.sim)
        if self.render_mode == "human":
            print(text_frame(self.sim), flush=True)
            return None
        if self._drawer is None:
            self._drawer = FrameDrawer(self.sim)
        return self._drawer.draw(0)

    def close(self) -> None:
        """Release the drawing buffers (nothing else is held)."""
        self._drawer = None
