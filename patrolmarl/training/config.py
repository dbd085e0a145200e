"""The training config file (YAML), validated like the district files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.config_types import Flag, NonNegativeFloat, PositiveFloat, Text, number, whole
from patrolmarl.config_types import StrictModel as _Strict
from patrolmarl.envs.dispatch_rule import LEARNED_RULES
from patrolmarl.envs.reward import CREDITS, DEFAULT_WEIGHTS
from patrolmarl.errors import ConfigError
from patrolmarl.evaluation.combined_cost import DEFAULT_THEFT_MINUTES
from patrolmarl.evaluation.evaluate import BASELINE
from patrolmarl.yaml_config import FieldError, read_yaml_mapping, validate_mapping

#: Largest count of a training config (timesteps, frequencies, batch sizes).
MAX_COUNT = 10**12
PositiveInt = whole(ge=1, le=MAX_COUNT)
#: Seeds fit numpy's legacy and torch's seeding (below 2^32).
MAX_SEED = 2**32 - 1
Seed = whole(ge=0, le=MAX_SEED)
#: Most days of one evaluation or demonstration set.
Days = whole(ge=1, le=10_000)
#: Summary metrics the selection score may weigh (each relative to fixed_zone's; lower is better).
SCORED_METRICS = (
    "response_mean",
    "thefts_per_day",
    "response_p90",
    "combined_cost_per_day",
    "expected_thefts_per_day",
    "expected_cost_per_day",
)
#: Baselines the final evaluation may add beside fixed_zone: every registered one, with its
#: default parameters (pmedian_theft and redeploy at their default theft weights).
FINAL_BASELINES = tuple(name for name in BASELINES if name != BASELINE)


class PPOSettings(_Strict):
    """Hyperparameters passed to SB3's PPO / sb3-contrib's MaskablePPO."""

    learning_rate: PositiveFloat = Field(3e-4, description="Adam step size")
    n_steps: PositiveInt = Field(128, description="simulator steps per rollout and district")
    batch_size: PositiveInt = Field(
        4096, description="samples per mini-batch (divides the rollout)"
    )
    n_epochs: PositiveInt = Field(4, description="passes over each rollout")
    gamma: number(gt=0, le=1) = Field(0.99, description="discount factor per step")
    gae_lambda: number(ge=0, le=1) = Field(0.95, description="GAE smoothing of the advantages")
    clip_range: PositiveFloat = Field(0.2, description="PPO clipping of the probability ratio")
    ent_coef: NonNegativeFloat = Field(0.01, description="entropy bonus weight")
    vf_coef: NonNegativeFloat = Field(0.5, description="value-loss weight")
    max_grad_norm: PositiveFloat = Field(0.5, description="gradient clipping norm")
    target_kl: PositiveFloat | None = Field(
        None, description="stop an update's epochs past this KL divergence (null: never)"
    )


class NetworkSettings(_Strict):
    """The shared actor-critic MLP; ``critic: central`` (or ``central_blocks``) gives the
    value network the global state too (see :mod:`patrolmarl.training.central_critic`);
    ``value_norm`` normalises its targets (see :mod:`patrolmarl.training.value_norm`)."""

    net_arch: list[whole(ge=1, le=65_536)] = Field(
        [128, 128], max_length=64, description="widths of the shared hidden layers"
    )
    activation: Literal["tanh", "relu"] = Field(
        "tanh", description="activation of the hidden layers"
    )
    critic: Literal["local", "central", "central_blocks"] = Field(
        "local",
        description="the value network reads the unit's observation (local) or also its "
        "district's global state per cell (central, MAPPO-style) or per coarse block "
        "(central_blocks)",
    )
    value_norm: Flag = Field(
        False,
        description="the critic predicts returns normalised by their running mean and "
        "deviation (MAPPO's ValueNorm)",
    )

    @property
    def critic_state(self) -> str | None:
        """The resolution of the global state the critic reads (None: a local critic)."""
        return {"local": None, "central": "cells", "central_blocks": "blocks"}[self.critic]


class NormalizeSettings(_Strict):
    """VecNormalize: running normalisation of observations and rewards."""

    observations: Flag = Field(True, description="normalise observations by running statistics")
    rewards: Flag = Field(True, description="scale rewards by the running return's deviation")
    clip_obs: PositiveFloat = Field(10.0, description="clip normalised observations to +-this")


class ObservationSettings(_Strict):
    """Optional observation fields: ``move_gains`` appends each unit's move gains."""

    move_gains: Flag = Field(False, description="append each unit's move gains to its observation")


class MacroSettings(_Strict):
    """Macro actions (``actions: posts``, :mod:`patrolmarl.envs.macro_actions`)."""

    n_posts: whole(ge=1, le=MAX_COUNT) | None = Field(
        None, description="candidate posts per hour (null: twice the units)"
    )
    dwell_minutes: NonNegativeFloat = Field(
        12.0, description="minutes a unit stands at its post before it chooses again"
    )


#: The demonstration days of ``pretrain`` are seeded ``[seed + DEMONSTRATION_STREAM, d]``.
DEMONSTRATION_STREAM = 7_919


class PretrainSettings(_Strict):
    """Warm start by imitation of a baseline (see :mod:`patrolmarl.training.imitation`).

    ``critic_warmup_steps``: PPO first trains only the value network for this
    many timesteps, so that the cloned actor is not moved by an untrained critic.
    ``statistics``: what the observation normalisation is fitted to before the clone:
    ``every_slot`` (every unit at every step of the demonstration days, as training
    then updates it) or ``decisions`` (the decisions alone; runs made before this
    setting, such as the shipped model's).
    """

    teacher: Literal["coverage", "pmedian", "nearest"] | None = Field(
        None, description="baseline imitated before PPO (null: no warm start)"
    )
    days: Days = Field(16, description="demonstration days")
    epochs: PositiveInt = Field(10, description="passes over the demonstrations")
    learning_rate: PositiveFloat = Field(1e-3, description="step size of the imitation")
    batch_size: PositiveInt = Field(4096, description="samples per imitation mini-batch")
    critic_warmup_steps: whole(ge=0, le=MAX_COUNT) = Field(
        0, description="timesteps training only the value network first"
    )
    statistics: Literal["every_slot", "decisions"] = Field(
        "every_slot", description="observations the normalisation is fitted to before the clone"
    )


class RewardWeights(_Strict):
    """Weights and credit of the shaped reward (see :mod:`patrolmarl.envs.reward`).

    Defaults and credit names are the reward's own (``DEFAULT_WEIGHTS``, ``CREDITS``).
    """

    response: NonNegativeFloat = Field(
        DEFAULT_WEIGHTS["response"], description="weight of the expected response minutes"
    )
    waiting: NonNegativeFloat = Field(
        DEFAULT_WEIGHTS["waiting"], description="weight of the waiting calls' minutes"
    )
    theft: NonNegativeFloat = Field(
        DEFAULT_WEIGHTS["theft"], description="response minutes one expected theft weighs"
    )
    closure: NonNegativeFloat = Field(
        DEFAULT_WEIGHTS["closure"], description="bonus per call closed on scene"
    )
    credit: Literal[CREDITS] = Field(  # type: ignore[valid-type]  # the reward's names
        CREDITS[0], description="how the team reward is shared among the units"
    )


class EvalSettings(_Strict):
    """Evaluation during training, on fixed days against fixed_zone.

    The best model is the one with the lowest ``score``: a weighted sum of the
    policy's realised metrics relative to fixed_zone's on the same days
    (e.g. response_mean 0.5 and thefts_per_day 0.5: 1.0 = as good as fixed_zone;
    combined_cost_per_day 1.0 selects by the combined cost, lambda = ``theft_minutes``;
    ``expected_cost_per_day`` by the same cost with the thefts expected where the
    units stood, the candidates' theft chances summed, which is free of the theft
    draw's noise).
    At the end, the best model is scored on ``final_days`` days drawn from
    ``final_seed`` against fixed_zone and ``final_baselines``: held-out days,
    since the model was chosen on the ``seed`` days.
    """

    freq: PositiveInt = Field(500_000, description="timesteps between evaluations")
    days: Days = Field(5, description="days of each evaluation")
    seed: Seed = Field(10_000, description="seed of the selection days")
    score_weights: dict[Literal[SCORED_METRICS], NonNegativeFloat] = Field(  # type: ignore[valid-type]
        {"response_mean": 0.5, "thefts_per_day": 0.5},
        description="weights of the score's metrics relative to fixed_zone",
    )
    theft_minutes: NonNegativeFloat = Field(
        DEFAULT_THEFT_MINUTES,
        description="lambda of the combined cost: response minutes one theft weighs",
    )
    final_days: Days = Field(30, description="held-out days of the final evaluation")
    final_seed: Seed = Field(20_000, description="seed of the held-out days (differs from seed)")
    final_baselines: list[Literal[FINAL_BASELINES]] = Field(  # type: ignore[valid-type]
        ["nearest", "pmedian"], description="baselines beside fixed_zone in the final evaluation"
    )

    @model_validator(mode="after")
    def _held_out(self) -> EvalSettings:
        if self.final_seed == self.seed:
            raise ValueError("final_seed must differ from seed (the final days are held out)")
        return self


class TrainConfig(_Strict):
    """A whole training config file."""

    algorithm: Literal["ppo", "maskable_ppo"] = Field(
        "maskable_ppo", description="PPO, or MaskablePPO (invalid actions masked)"
    )
    district: Annotated[Text, Field(max_length=4096)] = Field(
        "gaoxin", description="built-in district name or YAML path"
    )
    n_districts: whole(ge=1, le=4_096) = Field(16, description="districts simulated side by side")
    total_timesteps: PositiveInt = Field(
        5_000_000, description="agent-steps to train (districts x units per simulator step)"
    )
    seed: Seed = Field(0, description="seed of the districts' days and the networks")
    dispatch: Literal[tuple(LEARNED_RULES)] = Field(  # type: ignore[valid-type]  # the rules' names
        "agents",
        description="who sends street calls: the units' accept actions (agents) or the command "
        "centre, nearest unit at the call's instant (nearest: the policy learns positioning only)",
    )
    actions: Literal["primitive", "posts"] = Field(
        "primitive",
        description="the units' moves (primitive) or macro actions: a free unit chooses one of "
        "the hour's candidate posts (posts; needs dispatch: nearest)",
    )
    macro: MacroSettings = Field(MacroSettings(), description="macro actions (actions: posts)")
    torch_threads: whole(ge=1, le=1_024) = Field(1, description="torch CPU threads")
    checkpoint_freq: PositiveInt = Field(500_000, description="timesteps between checkpoints")
    ppo: PPOSettings = Field(PPOSettings(), description="PPO hyperparameters")
    network: NetworkSettings = Field(NetworkSettings(), description="the actor-critic network")
    normalize: NormalizeSettings = Field(
        NormalizeSettings(), description="running normalisation (VecNormalize)"
    )
    observation: ObservationSettings = Field(
        ObservationSettings(), description="optional observation fields"
    )
    pretrain: PretrainSettings = Field(PretrainSettings(), description="warm start by imitation")
    reward: RewardWeights = Field(
        RewardWeights(), description="weights and credit of the shaped reward"
    )
    eval: EvalSettings = Field(EvalSettings(), description="evaluation during and after training")

    @model_validator(mode="after")
    def _demonstrations_apart_from_evaluation(self) -> TrainConfig:
        demo = self.seed + DEMONSTRATION_STREAM
        if self.pretrain.teacher is not None and demo in (self.eval.seed, self.eval.final_seed):
            raise ValueError(
                f"seed {self.seed}: its demonstration days (seed + {DEMONSTRATION_STREAM}) "
                "would be evaluation days; choose another seed"
            )
        return self

    # -- values that validate field by field but cannot train (issue 17, item 9) --
    @model_validator(mode="after")
    def _trainable_values(self) -> TrainConfig:
        # Finite, non-negative numbers and 32-bit seeds are the field types' work.
        if not sum(self.eval.score_weights.values()) > 0:
            raise FieldError(
                "eval.score_weights",
                "needs at least one positive weight (the score divides by their sum)",
            )
        if self.actions == "posts" and (self.dispatch, self.pretrain.teacher) != ("nearest", None):
            raise FieldError(
                "actions",
                "posts needs dispatch: nearest and no pretrain.teacher (imitation teaches moves)",
            )
        if self.actions == "posts" and self.network.critic != "local":
            raise FieldError(
                "network.critic",
                f"{self.network.critic} needs actions: primitive (the macro-action env has no "
                "centralised-critic rows yet)",
            )
        if self.ppo.batch_size < 2:
            raise FieldError(
                "ppo.batch_size", "must be at least 2 (advantages are normalised per mini-batch)"
            )
        return self


def check_rollout(config: TrainConfig, n_agents: int, source: str) -> None:
    """Refuse a ``ppo.batch_size`` that does not split the rollout into whole mini-batches.

    A rollout holds ``n_steps`` x ``n_districts`` x ``n_agents`` samples (``n_agents``
    units per district); a larger batch or a remainder (a mini-batch of one sample
    normalises to NaN) would train on something else than configured.

    Raises
    ------
    ConfigError
        Naming ``source`` and ``ppo.batch_size``.
    """
    rollout = config.ppo.n_steps * config.n_districts * n_agents
    batch = config.ppo.batch_size
    if batch > rollout or rollout % batch:
        raise ConfigError(
            source,
            "ppo.batch_size",
            f"{batch:,} must divide the rollout of n_steps {config.ppo.n_steps} x "
            f"n_districts {config.n_districts} x {n_agents} units = {rollout:,} samples",
        )


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training config; ``overrides`` replace top-level keys.

    Raises
    ------
    ConfigError
        One line naming the file, the field and the reason.
    """
    raw = read_yaml_mapping(Path(path))
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return validate_mapping(TrainConfig, raw, str(path))
