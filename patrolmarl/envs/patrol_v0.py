"""``patrol_v0``: the patrol environment as a versioned PettingZoo module.

As PettingZoo's own environments: ``parallel_env()`` gives the
:class:`~patrolmarl.envs.pettingzoo_env.PatrolParallelEnv`, ``raw_env()`` the
same as an AEC environment without wrappers, and ``env()`` that one wrapped
(actions checked against the action space, call order enforced). All take a
built-in district name or YAML path, ``seed``, ``render_mode`` (``"human"``,
``"ansi"``, ``"rgb_array"``), ``max_cycles`` (episode length in steps),
``reward_weights`` (see :mod:`patrolmarl.envs.reward`), ``move_gains`` and
district overrides for ``District.load``::

    from patrolmarl.envs import patrol_v0
    env = patrol_v0.parallel_env(max_cycles=96)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils import wrappers
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from patrolmarl.envs.pettingzoo_env import PatrolParallelEnv

__all__ = ["PatrolParallelEnv", "env", "parallel_env", "raw_env"]


def parallel_env(
    district: str | Path = "gaoxin",
    seed: int | None = None,
    render_mode: str | None = None,
    max_cycles: int | None = None,
    reward_weights: dict[str, float] | None = None,
    **overrides: Any,
) -> PatrolParallelEnv:
    """A :class:`PatrolParallelEnv`; ``overrides`` (and ``move_gains``) go to it."""
    return PatrolParallelEnv(
        district,
        seed=seed,
        render_mode=render_mode,
        max_cycles=max_cycles,
        reward_weights=reward_weights,
        **overrides,
    )


def raw_env(*args: Any, **kwargs: Any) -> AECEnv:
    """The AEC version of :func:`parallel_env` (same arguments), unwrapped."""
    return parallel_to_aec_wrapper(parallel_env(*args, **kwargs))


def env(*args: Any, **kwargs: Any) -> AECEnv:
    """:func:`raw_env` (same arguments) with PettingZoo's usual wrappers (action bounds,
    call order)."""
    aec = raw_env(*args, **kwargs)
    return wrappers.OrderEnforcingWrapper(wrappers.AssertOutOfBoundsWrapper(aec))
