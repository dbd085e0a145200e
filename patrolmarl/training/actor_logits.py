"""The action logits of an SB3 actor-critic policy, as one module over its actor's parts."""

from __future__ import annotations

from typing import Any

import torch


class ActorLogits(torch.nn.Module):
    """An SB3 ``ActorCriticPolicy``'s actor: features extractor, actor MLP, action head.

    :meth:`logits` gives the unmasked action logits as SB3 computes them for
    float (``Box``) observations. The parts are the policy's own modules, not
    copies: fitting through them fits the policy (imitation), and exporting
    them exports the policy (``patrolmarl export``).
    """

    def __init__(self, policy: Any) -> None:
        super().__init__()
        self.features = policy.pi_features_extractor
        self.policy_net = policy.mlp_extractor.policy_net
        self.action_net = policy.action_net

    def logits(self, observations: torch.Tensor) -> torch.Tensor:
        """``(batch, A)`` action logits of ``(batch, D)`` float observations.

        ``D`` is the unit's observation; the actor of a centralised-critic policy
        (:mod:`patrolmarl.training.central_critic`) also takes its whole training
        rows, of which it reads the first ``D`` entries.
        """
        return self.action_net(self.policy_net(self.features(observations)))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """As :meth:`logits`."""
        return self.logits(observations)
