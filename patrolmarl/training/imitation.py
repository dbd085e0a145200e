"""Warm start by imitation: fit a fresh policy's actions to a baseline's before PPO.

Behaviour cloning ("kickstarting"): a rule-based teacher (a baseline such as
``coverage``) runs whole days of the district; every decision where a unit had
a choice (more than one allowed action) becomes a labelled example of the
observation the learner would see and the action the teacher took. The
learner's action distribution is then fitted to those labels by maximum
likelihood (masked, as MaskablePPO acts), for a few epochs, before PPO
training starts from it. The value network is left to PPO.

The demonstration days are drawn from the training seed, never the evaluation
days. Observation normalisation statistics are first fitted to the
demonstration days, so that the cloned policy reads observations as PPO will feed
them: by default on every slot at every step (busy units and units without a
choice too), as VecNormalize then updates them in training, so that the critic's
warm-up does not shift what the cloned actor reads; or, as runs before the
``pretrain.statistics`` setting did, on the decisions alone.
For a centralised critic the demonstrations hold the training rows (the unit's
observation, then the global state), so that those statistics cover the critic's
entries too; the clone fits the actor, which reads the unit's observation alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.learned import actor_observation_size
from patrolmarl.agents.policy import policy_dispatch
from patrolmarl.envs.boundary_accepts import boundary_accepts
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import AGENTS, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder, state_size
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import FIRST_ACCEPT
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.runner import day_seeds
from patrolmarl.training.actor_logits import ActorLogits
from patrolmarl.training.config import DEMONSTRATION_STREAM


@dataclass(frozen=True)
class Demonstrations:
    """Decisions of a teacher: ``(M, D)`` observations (``(M, D + S)`` with the global
    state), ``(M, A)`` masks, ``(M,)`` actions; ``every_slot``: the running statistics of
    the observations of every slot at every step of the days (what VecNormalize sees)."""

    observations: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    every_slot: RunningMeanStd


def demonstrations(
    district: District,
    teacher: str,
    days: int,
    seed: int,
    move_gains: bool,
    dispatch: DispatchRule = AGENTS,
    critic_state: str | None = None,
) -> Demonstrations:
    """Run the baseline ``teacher`` on ``days`` days; keep the decisions with a choice.

    ``dispatch`` is the learner's rule. Under ``AGENTS`` the teacher's command-centre
    dispatch is written as the accepts it would make at each step boundary (the
    learner must take calls itself); under the teacher's own command-centre rule the
    calls are the command centre's, as in the learner's training, and the labels are
    the teacher's moves alone.

    ``critic_state`` (``"cells"`` or ``"blocks"``): each observation is followed by its
    district's global state at that resolution, as a centralised critic's training
    rows are (see ``PatrolVecEnv``).
    """
    sim = BatchedSim(district, batch_size=days)
    policy = BASELINES[teacher](seed=seed)
    view = SimView(sim)
    policy.bind(view)
    rule = policy_dispatch(policy)
    if not dispatch.by_agents:
        if dispatch.kind != rule.kind:
            raise PatrolMarlError(
                f"pretrain.teacher {teacher!r} dispatches by {rule.kind!r}, not by the "
                f"training's dispatch {dispatch.kind!r}"
            )
        sim.set_dispatch(rule)
    sim.reset(seeds=day_seeds(seed + DEMONSTRATION_STREAM, days))
    policy.reset(np.ones(days, dtype=bool))
    builder = ObservationBuilder(sim, move_gains=move_gains)
    observations, masks, actions = [], [], []
    width = builder.size + (0 if critic_state is None else state_size(district, critic_state))
    every_slot = RunningMeanStd(shape=(width,))
    while not sim.done.any():
        mask = sim.action_masks()
        rows = (
            builder.observe() if critic_state is None else builder.observe_with_state(critic_state)
        )
        every_slot.update(rows.reshape(-1, width))
        moves = policy.act(rows[..., : builder.size], mask)
        action = boundary_accepts(view, rule, moves) if dispatch.by_agents else moves
        choice = mask.sum(axis=2) > 1
        observations.append(rows[choice])
        masks.append(mask[choice])
        actions.append(action[choice])
        sim.step(action)
    return Demonstrations(
        np.concatenate(observations), np.concatenate(masks), np.concatenate(actions), every_slot
    )


def clone(
    model,
    data: Demonstrations,
    normalize,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
) -> tuple[float, float | None]:
    """Fit ``model``'s policy to ``data`` by masked maximum likelihood (moves and accepts
    weighed alike); returns the final share of decisions, and of the teacher's
    accepts (None when it made none), where the policy's most probable action is the
    teacher's.

    The actor reads the first :func:`actor_observation_size` entries of each
    observation (all of them but for a centralised critic); ``normalize`` maps those
    raw entries to what it reads (VecNormalize's normalisation of them, after its
    statistics were updated with ``data``; or the identity).
    """
    policy = model.policy
    actor = ActorLogits(policy)
    own = data.observations[:, : actor_observation_size(model)]
    obs = torch.as_tensor(normalize(own), dtype=torch.float32)
    masks = torch.as_tensor(data.masks)
    actions = torch.as_tensor(data.actions)
    weight = _balanced_weights(data.actions, data.masks.shape[1])
    optimizer = torch.optim.Adam(actor_parameters(policy), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = torch.randperm(obs.shape[0], generator=generator)
        for start in range(0, obs.shape[0], batch_size):
            batch = order[start : start + batch_size]
            logits = _masked_logits(actor, obs[batch], masks[batch])
            loss = torch.nn.functional.cross_entropy(logits, actions[batch], weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        agree = _masked_logits(actor, obs, masks).argmax(dim=1) == actions
    accepts = actions >= FIRST_ACCEPT
    accept_share = float(agree[accepts].float().mean()) if bool(accepts.any()) else None
    return float(agree.float().mean()), accept_share


def _balanced_weights(actions: np.ndarray, n_actions: int) -> torch.Tensor:
    """Per-action loss weights making patrol moves and call accepts weigh alike in total.

    Accepts are rare (a few in a hundred decisions) but decide the response
    time; unweighted, a clone that never accepts would still agree ~98 % of the time.
    """
    accept = actions >= FIRST_ACCEPT
    weight = np.ones(n_actions)
    if accept.any() and (~accept).any():
        weight[FIRST_ACCEPT:] = (~accept).sum() / accept.sum()
    return torch.as_tensor(weight, dtype=torch.float32)


def actor_parameters(policy) -> list[torch.nn.Parameter]:
    """The parameters that shape the action distribution (all but the value network's)."""
    critic = ("value_net", "mlp_extractor.value_net", "vf_features_extractor")
    return [p for name, p in policy.named_parameters() if not name.startswith(critic)]


def _masked_logits(actor: ActorLogits, obs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The actor's action logits with forbidden actions at -inf (as MaskablePPO samples)."""
    return actor.logits(obs).masked_fill(~masks, float("-inf"))
