"""Value normalisation (MAPPO's ValueNorm, Yu et al. 2022): ``network.value_norm: true``.

The critic's last layer predicts the value on a normalised scale, ``(R - m) / s`` for
running statistics ``m``, ``s`` of the returns; the policy's ``value_net`` is a
:class:`ValueNormHead` that outputs ``m + s * linear(latent)``, the raw-scale value SB3
stores in its rollout buffer and bootstraps GAE with. After each rollout,
:class:`ValueNormCallback` adds the rollout's returns to the statistics and sets
``model.vf_coef = vf_coef / s**2``, so that SB3's raw-scale loss
``vf_coef / s**2 * (R - (m + s * v))**2`` equals ``vf_coef * ((R - m) / s - v)**2``,
ValueNorm's loss on the normalised scale: the critic's gradients keep one size
whatever the scale of the returns. The policy classes composing :class:`ValueNormMixin`
are in :mod:`patrolmarl.training.policies`.

ValueNorm, not PopArt: new statistics move the raw-scale output (the Linear is not
rescaled to preserve it), as in MAPPO's code (``use_valuenorm``, not ``use_popart``).
The statistics are the head's buffers, so they are saved in the model's ``.zip`` and a
resumed run continues them. VecNormalize's reward scaling (``normalize.rewards``)
divides the rewards by a running return deviation but does not centre the targets;
this does both, on whatever rewards the buffer holds.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.running_mean_std import RunningMeanStd

#: Floor of the returns' variance (MAPPO's ValueNorm clamps it likewise): constant returns
#: (e.g. a rollout without reward) neither divide by zero nor blow up ``vf_coef``.
MIN_VARIANCE = 1e-2


class ValueNormHead(torch.nn.Module):
    """The critic's output layer on the normalised scale: ``mean + std * linear(latent)``.

    ``mean``, ``var`` and ``count`` (buffers, saved with the model) are the running
    statistics of the returns; ``std`` is ``sqrt(var)``, at least ``sqrt(MIN_VARIANCE)``.
    Before any update they are 0, 1 and 0: the head is the Linear alone.
    """

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        self.register_buffer("mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("var", torch.ones((), dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @property
    def std(self) -> torch.Tensor:
        """The deviation the Linear's output is scaled by."""
        return self.var.clamp_min(MIN_VARIANCE).sqrt()

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """The raw-scale values of ``latent`` (the value MLP's output)."""
        normalised = self.linear(latent)
        return self.mean.to(normalised.dtype) + self.std.to(normalised.dtype) * normalised

    def update(self, returns: np.ndarray) -> None:
        """Add ``returns`` (any shape) to the running statistics.

        SB3's :class:`RunningMeanStd` (the pooled mean and variance of every return so
        far, as VecNormalize keeps) rather than MAPPO's debiased moving average: with
        MAPPO's weight 0.99999 per update that average weighs the first ~10^5 rollouts
        nearly alike, i.e. it is the pooled statistic of every training run here.
        """
        stats = RunningMeanStd(shape=())
        stats.mean, stats.var, stats.count = (
            self.mean.item(),
            self.var.item(),
            self.count.item(),
        )
        stats.update(np.asarray(returns, dtype=np.float64).reshape(-1))
        self.mean.fill_(float(stats.mean))
        self.var.fill_(float(stats.var))
        self.count.fill_(float(stats.count))


class ValueNormMixin:
    """Mixin over an SB3 actor-critic policy: its ``value_net`` is a :class:`ValueNormHead`
    around SB3's Linear (the same parameters, already in the optimizer)."""

    value_net: ValueNormHead

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]  # the SB3 policy's
        self.value_net = ValueNormHead(self.value_net)


class ValueNormCallback(BaseCallback):
    """After each rollout (its returns computed), update the value head's statistics and
    scale ``model.vf_coef`` to ``vf_coef / std**2`` (see the module's docstring).

    ``vf_coef`` is the configured weight of the normalised loss (``ppo.vf_coef``), not
    the model's, which this callback rescales.
    """

    def __init__(self, vf_coef: float) -> None:
        super().__init__()
        self.vf_coef = vf_coef

    def _on_training_start(self) -> None:
        self._scale_vf_coef()  # a resumed run's statistics are restored with its model

    def _on_rollout_end(self) -> None:
        self.model.policy.value_net.update(self.model.rollout_buffer.returns)
        self._scale_vf_coef()

    def _on_step(self) -> bool:
        return True

    def _scale_vf_coef(self) -> None:
        self.model.vf_coef = self.vf_coef / float(self.model.policy.value_net.std) ** 2
