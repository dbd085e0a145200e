"""District simulation: the batched core and the standard environment APIs.

The PettingZoo environment is :mod:`patrolmarl.envs.patrol_v0` (``env``,
``parallel_env``, ``raw_env``); ``patrolmarl.envs.env``, ``parallel_env`` and
``PatrolParallelEnv`` are the same, imported on first use so that the batched
core (``patrolmarl.envs.core``) loads without pettingzoo.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["PatrolParallelEnv", "env", "parallel_env", "raw_env"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("patrolmarl.envs.patrol_v0"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
