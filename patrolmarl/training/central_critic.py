"""A centralised critic (MAPPO-style) for the shared patrol policy: ``network.critic: central``.

Every slot of ``PatrolVecEnv(..., critic_state="cells")`` observes
``[the unit's own observation (D entries) | its district's global state (S entries)]``
(:meth:`~patrolmarl.envs.observations.ObservationBuilder.observe_with_state`);
``network.critic: central_blocks`` (``critic_state="blocks"``) gives the state pooled
to the coarse map's blocks instead: far fewer entries (gaoxin: 102 instead of 1,602),
so training runs nearly as fast as with the local critic (see
``benchmarks/train_throughput.py``). The policies here split that row:

- the actor reads only the first ``actor_columns`` = D entries, the observation of
  the local-critic policy, so that acting, imitation, evaluation and the ONNX
  export need nothing but the unit's own observation;
- the critic reads the whole row: the global state, and through the unit's own
  observation its identity (``agent_id``) and status (``status``,
  ``busy_remaining``), which are therefore not repeated in the critic's part.

``actor_columns`` is a policy keyword, so a saved model (``.zip``) restores the split.
:func:`patrolmarl.training.policies.patrol_policy` chooses the class a config trains.

Busy units. MAPPO drops the samples of inactive agents from its losses. Here a
busy unit (en route or on scene) has a single allowed action, so under
MaskablePPO its sample has log-probability 0 whatever the parameters: ratio 1,
no policy gradient and no entropy. Its value target still counts, so the critic
also learns the value of the team's state while that unit is busy. Plain PPO
(``algorithm: ppo``) does not mask: a busy unit's ignored action trains the actor
as it does with the local critic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    FlattenExtractor,
    MlpExtractor,
)


class ActorColumns(BaseFeaturesExtractor):
    """The first ``columns`` entries of a flat ``Box`` observation (the unit's own).

    Also accepts rows of exactly ``columns`` entries: the actor's input alone.
    """

    def __init__(self, observation_space: spaces.Box, columns: int) -> None:
        super().__init__(observation_space, features_dim=columns)
        self.columns = columns

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``(batch, columns)``: the leading entries of each row."""
        return observations[:, : self.columns]


class _CentralCritic:
    """Mixin over an SB3 actor-critic policy: the actor reads the first
    ``actor_columns`` observation entries, the critic all of them (features not shared).

    The policy's ``features_extractor`` (and ``pi_features_extractor``) is the
    actor's :class:`ActorColumns`; ``vf_features_extractor`` flattens the whole row
    and the value MLP is as wide as it.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Space,
        lr_schedule: Any,
        *,
        actor_columns: int,
        **kwargs: Any,
    ) -> None:
        width = int(np.prod(observation_space.shape))
        if not 0 < actor_columns < width:
            raise ValueError(
                f"actor_columns must lie between 0 and the observation's {width} entries "
                f"(the critic's part follows them), got {actor_columns}"
            )
        self.actor_columns = actor_columns
        kwargs["share_features_extractor"] = False
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        """The actor's extractor (SB3 calls this for both; the critic's is replaced in
        :meth:`_build_mlp_extractor`)."""
        return ActorColumns(self.observation_space, self.actor_columns)

    def _build_mlp_extractor(self) -> None:
        """SB3's actor and value MLPs, the value MLP reading the whole observation."""
        super()._build_mlp_extractor()
        self.vf_features_extractor = FlattenExtractor(self.observation_space)
        critic = MlpExtractor(
            self.vf_features_extractor.features_dim,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            device=self.device,
        )
        self.mlp_extractor.value_net = critic.value_net

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return super()._get_constructor_parameters() | {"actor_columns": self.actor_columns}


class CentralCriticPolicy(_CentralCritic, ActorCriticPolicy):
    """SB3 PPO's actor-critic policy with a centralised critic."""


class MaskableCentralCriticPolicy(_CentralCritic, MaskableActorCriticPolicy):
    """sb3-contrib MaskablePPO's actor-critic policy with a centralised critic."""
