"""Training on macro actions (``actions: posts``): the run's candidate posts, its environment
and the model being trained as an evaluable policy."""

from __future__ import annotations

import numpy as np

from patrolmarl.agents.candidate_posts import candidate_posts
from patrolmarl.agents.learned import ObservationNormalizer, SB3ModelPolicy
from patrolmarl.agents.macro_policy import MacroPostPolicy
from patrolmarl.envs.dispatch_rule import NEAREST
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.macro_actions import MacroActionVecEnv
from patrolmarl.errors import ConfigError
from patrolmarl.training.config import TrainConfig


def run_posts(district: District, config: TrainConfig, source: str) -> np.ndarray:
    """``(24, P)`` candidate posts of a run (``macro.n_posts`` of them per hour).

    Raises
    ------
    ConfigError
        If ``macro.n_posts`` exceeds the district's cells.
    """
    try:
        return candidate_posts(district, IncidentModel(district), config.macro.n_posts)
    except ValueError as error:
        raise ConfigError(source, "macro.n_posts", str(error)) from None


def macro_vec_env(district: District, config: TrainConfig, source: str) -> MacroActionVecEnv:
    """The run's :class:`MacroActionVecEnv`: its districts, seed, reward and observation."""
    return MacroActionVecEnv(
        district,
        config.n_districts,
        run_posts(district, config, source),
        dwell_minutes=config.macro.dwell_minutes,
        seed=config.seed,
        reward_weights=config.reward.model_dump(),
        move_gains=config.observation.move_gains,
    )


def macro_policy_of(
    model, normalizer: ObservationNormalizer | None, name: str, env: MacroActionVecEnv
) -> MacroPostPolicy:
    """The model being trained on ``env`` as a :class:`MacroPostPolicy` over the env's posts."""
    move_gains = any(field.name == "move_gains" for field in env.layout)
    inner = SB3ModelPolicy(model, normalizer, name, move_gains, NEAREST)
    return MacroPostPolicy(inner, env.orders.posts, env.orders.dwell_minutes)
