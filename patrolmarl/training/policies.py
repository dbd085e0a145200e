"""The policy classes training builds: a local or centralised critic (``network.critic``),
with or without value normalisation (``network.value_norm``), for PPO and MaskablePPO.

A saved model (``.zip``) names its class, so these are importable by name: the class
restores the value head on load, as ``actor_columns`` restores the critic's split.
"""

from __future__ import annotations

from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy

from patrolmarl.training.central_critic import CentralCriticPolicy, MaskableCentralCriticPolicy
from patrolmarl.training.value_norm import ValueNormMixin


class ValueNormPolicy(ValueNormMixin, ActorCriticPolicy):
    """SB3 PPO's actor-critic policy (``MlpPolicy``) with value normalisation."""


class MaskableValueNormPolicy(ValueNormMixin, MaskableActorCriticPolicy):
    """sb3-contrib MaskablePPO's actor-critic policy with value normalisation."""


class CentralCriticValueNormPolicy(ValueNormMixin, CentralCriticPolicy):
    """SB3 PPO's policy with a centralised critic and value normalisation."""


class MaskableCentralCriticValueNormPolicy(ValueNormMixin, MaskableCentralCriticPolicy):
    """sb3-contrib MaskablePPO's policy with a centralised critic and value normalisation."""


#: (algorithm, centralised critic, value normalisation) -> policy class.
_POLICIES: dict[tuple[str, bool, bool], type[BasePolicy]] = {
    ("ppo", False, False): ActorCriticPolicy,
    ("ppo", False, True): ValueNormPolicy,
    ("ppo", True, False): CentralCriticPolicy,
    ("ppo", True, True): CentralCriticValueNormPolicy,
    ("maskable_ppo", False, False): MaskableActorCriticPolicy,
    ("maskable_ppo", False, True): MaskableValueNormPolicy,
    ("maskable_ppo", True, False): MaskableCentralCriticPolicy,
    ("maskable_ppo", True, True): MaskableCentralCriticValueNormPolicy,
}


def patrol_policy(algorithm: str, central: bool, value_norm: bool) -> type[BasePolicy]:
    """The policy class of ``algorithm`` (``ppo`` or ``maskable_ppo``) with a centralised
    critic (``central``; it takes the ``actor_columns`` keyword) and value normalisation;
    SB3's ``MlpPolicy`` class when neither."""
    return _POLICIES[(algorithm, central, value_norm)]
