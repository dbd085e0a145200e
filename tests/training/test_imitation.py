"""Warm start by imitation: demonstrations, cloning, the critic warm-up, and the CLI."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO

from patrolmarl.envs.district import District
from patrolmarl.envs.status import FIRST_ACCEPT
from patrolmarl.envs.vec_env import PatrolVecEnv
from patrolmarl.training.callbacks import CriticWarmupCallback
from patrolmarl.training.imitation import actor_parameters, clone, demonstrations
from tests.helpers import run_cli, short_busy_gaoxin
from tests.training.helpers import AGENTS, DAY_MINUTES, tiny_config, write_config


@pytest.fixture(scope="module")
def district() -> District:
    return short_busy_gaoxin()


def _model(district: District, seed: int = 0) -> MaskablePPO:
    env = PatrolVecEnv(district, 1, seed=seed, move_gains=True)
    kwargs = {"n_steps": 32, "batch_size": 448, "n_epochs": 1, "learning_rate": 1e-3}
    return MaskablePPO("MlpPolicy", env, seed=seed, device="cpu", **kwargs)


def test_demonstrations_are_the_teachers_choices(district):
    data = demonstrations(district, "coverage", days=2, seed=0, move_gains=True)
    again = demonstrations(district, "coverage", days=2, seed=0, move_gains=True)
    np.testing.assert_array_equal(data.actions, again.actions)
    np.testing.assert_array_equal(data.observations, again.observations)
    assert data.observations.shape[1] == _model(district).observation_space.shape[0]
    assert (data.masks.sum(axis=1) > 1).all()  # only decisions with a choice
    assert np.take_along_axis(data.masks, data.actions[:, None], axis=1).all()
    assert (data.actions >= FIRST_ACCEPT).sum() > 10  # the teacher's accepts are in


ON_SCENE_COLUMN = 3  # the status one-hot leads the observation: idle, moving, en_route, on_scene


def test_the_statistics_cover_every_slot_at_every_step(district):
    """What VecNormalize sees in training: every unit, busy or without a choice, each
    step; the decisions alone leave busy units out."""
    days = 2
    data = demonstrations(district, "coverage", days=days, seed=0, move_gains=True)
    steps = district.config.simulation.episode_minutes // district.config.simulation.step_minutes
    slots = days * steps * district.n_units
    assert data.every_slot.count == pytest.approx(slots, abs=1e-3)
    assert data.observations.shape[0] < slots
    assert data.observations[:, ON_SCENE_COLUMN].max() == 0.0  # no choice on a call
    assert data.every_slot.mean[ON_SCENE_COLUMN] > 0.01
    np.testing.assert_allclose(
        data.every_slot.mean, data.observations.mean(axis=0), atol=0.5, rtol=0
    )


def test_a_clone_takes_the_teachers_decisions_on_unseen_days(district):
    model = _model(district)
    train = demonstrations(district, "coverage", days=8, seed=0, move_gains=True)
    scale = train.observations.std(axis=0) + 1e-6
    center = train.observations.mean(axis=0)

    def normalize(obs: np.ndarray) -> np.ndarray:
        return (obs - center) / scale

    agreement, accepts = clone(
        model, train, normalize, epochs=20, learning_rate=3e-3, batch_size=512, seed=0
    )
    assert agreement > 0.9 and accepts > 0.9
    unseen = demonstrations(district, "coverage", days=2, seed=1, move_gains=True)
    with torch.no_grad():
        obs = torch.as_tensor(normalize(unseen.observations), dtype=torch.float32)
        dist = model.policy.get_distribution(obs, action_masks=unseen.masks)
        chosen = dist.distribution.probs.argmax(dim=1).numpy()
    assert (chosen == unseen.actions).mean() > 0.75
    accept = unseen.actions >= FIRST_ACCEPT
    assert (chosen[accept] == unseen.actions[accept]).mean() > 0.6
    # An untrained policy is far from the teacher: the agreement is learned.
    fresh = _model(district, seed=1)
    with torch.no_grad():
        probs = fresh.policy.get_distribution(obs, action_masks=unseen.masks).distribution.probs
    assert (probs.argmax(dim=1).numpy() == unseen.actions).mean() < 0.5


def test_the_critic_warmup_holds_the_actor_then_releases_it(district):
    model = _model(district)
    rollout = 32 * 14  # agent-steps of one rollout of this model
    actor = [p.detach().clone() for p in actor_parameters(model.policy)]
    critic = [p.detach().clone() for p in model.policy.value_net.parameters()]
    warmup = CriticWarmupCallback(until=2 * rollout)
    model.learn(rollout, callback=warmup)  # the first update trains the critic only
    after = actor_parameters(model.policy)
    assert all(torch.equal(b, a) for b, a in zip(actor, after, strict=True))
    value_net = model.policy.value_net.parameters()
    assert not all(torch.equal(b, a) for b, a in zip(critic, value_net, strict=True))
    model.learn(rollout, callback=warmup, reset_num_timesteps=False)  # 2 rollouts: released
    after = actor_parameters(model.policy)
    assert not all(torch.equal(b, a) for b, a in zip(actor, after, strict=True))


@pytest.mark.parametrize("statistics", ["every_slot", "decisions"])
def test_train_cli_clones_the_teacher_first(tmp_path, statistics):
    pretrain = {"teacher": "coverage", "days": 1, "epochs": 2, "critic_warmup_steps": 448}
    config = tiny_config(
        tmp_path,
        algorithm="maskable_ppo",
        observation={"move_gains": True},
        pretrain=pretrain | {"statistics": statistics},
        total_timesteps=900,
    )
    code, out, err = run_cli(
        "train", "--config", write_config(tmp_path, config), "--run-dir", tmp_path / "run"
    )
    assert code == 0, err
    assert "imitated coverage on 1 days" in out
    pretrain = json.loads((tmp_path / "run" / "final.json").read_text())["pretrain"]
    assert pretrain["teacher"] == "coverage" and pretrain["decisions"] > 100
    assert 0.0 < pretrain["agreement"] <= 1.0
    # The clone before any PPO update is kept; PPO moved the actor after it.
    warm, final = (
        MaskablePPO.load(tmp_path / "run" / name) for name in ("warm_start.zip", "final.zip")
    )
    assert warm.num_timesteps == 0 and final.num_timesteps > 0
    # Its statistics were fitted on every slot of the demonstration day, or the decisions.
    with open(tmp_path / "run" / "warm_start_vecnormalize.pkl", "rb") as file:
        counted = pickle.load(file).obs_rms.count
    fitted = DAY_MINUTES * AGENTS if statistics == "every_slot" else pretrain["decisions"]
    assert counted == pytest.approx(fitted, abs=1e-3)
    weights = [m.policy.action_net.weight for m in (warm, final)]
    assert not torch.equal(*weights)
