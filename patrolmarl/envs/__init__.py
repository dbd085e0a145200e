"""District simulation: the batched core and the standard environment APIs.

``parallel_env()`` builds the PettingZoo :class:`PatrolParallelEnv`; ``env()``
the same as an AEC environment (``parallel_to_aec``, order-enforced). Both take
a built-in district name or YAML path, ``seed``, ``render_mode``, ``max_cycles``
(episode length in steps), ``reward_weights`` (see :mod:`patrolmarl.envs.reward`)
and district overrides for ``District.load``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils import parallel_to_aec

from patrolmarl.envs.pettingzoo_env import PatrolParallelEnv

__all__ = ["PatrolParallelEnv", "env", "parallel_env"]


def parallel_env(
    district: str | Path = "gaoxin",
    seed: int | None = None,
    render_mode: str | None = None,
    max_cycles: int | None = None,
    reward_weights: dict[str, float] | None = None,
    **overrides: Any,
) -> PatrolParallelEnv:
    """A :class:`PatrolParallelEnv`; ``overrides`` go to ``District.load``."""
    return PatrolParallelEnv(
        district,
        seed=seed,
        render_mode=render_mode,
        max_cycles=max_cycles,
        reward_weights=reward_weights,
        **overrides,
    )


def env(
    district: str | Path = "gaoxin",
    seed: int | None = None,
    render_mode: str | None = None,
    max_cycles: int | None = None,
    reward_weights: dict[str, float] | None = None,
    **overrides: Any,
) -> AECEnv:
    """The AEC version of :func:`parallel_env` (wrapped in ``OrderEnforcingWrapper``)."""
    par = parallel_env(district, seed, render_mode, max_cycles, reward_weights, **overrides)
    return parallel_to_aec(par)
