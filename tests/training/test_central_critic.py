"""The centralised critic: the critic reads the global state, the actor only the unit's
observation; training, imitation, resume, export and evaluation of such a run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from patrolmarl.agents.learned import SB3ModelPolicy
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import (
    STATE_CHANNELS,
    ObservationBuilder,
    coarse_blocks,
    state_bounds,
    state_size,
)
from patrolmarl.envs.vec_env import PatrolVecEnv
from patrolmarl.errors import ConfigError
from patrolmarl.evaluation.runner import day_seeds, run_policy
from patrolmarl.exported.onnx_policy import OnnxPolicy
from patrolmarl.training.actor_logits import ActorLogits
from patrolmarl.training.central_critic import CentralCriticPolicy, MaskableCentralCriticPolicy
from patrolmarl.training.config import load_train_config
from patrolmarl.training.export import export_run
from patrolmarl.training.policies import patrol_policy
from tests.helpers import run_cli, short_busy_gaoxin
from tests.training.helpers import tiny_config, write_config

ALGORITHMS = {"ppo": PPO, "maskable_ppo": MaskablePPO}


def _central_env(n_districts: int = 2, resolution: str = "cells") -> PatrolVecEnv:
    return PatrolVecEnv(short_busy_gaoxin(), n_districts, seed=0, critic_state=resolution)


def _model(algorithm: str, env: PatrolVecEnv):
    return ALGORITHMS[algorithm](
        patrol_policy(algorithm, central=True, value_norm=False),
        env,
        n_steps=32,
        batch_size=64,
        seed=0,
        device="cpu",
        policy_kwargs={"actor_columns": env.builder.size, "net_arch": [16]},
    )


def _advance(env: PatrolVecEnv, steps: int) -> np.ndarray:
    """The observations after ``steps`` steps of random allowed actions (seeded)."""
    rng = np.random.default_rng(0)
    obs = env.reset()
    for _ in range(steps):
        masks = env.action_masks()
        obs, *_ = env.step(np.array([rng.choice(np.flatnonzero(m)) for m in masks]))
    return obs


# ------------------------------------------------------------------ the observation
@pytest.mark.parametrize("resolution", ["cells", "blocks"])
def test_central_rows_are_the_unit_observation_then_the_state(resolution):
    central = _central_env(resolution=resolution)
    local = PatrolVecEnv(short_busy_gaoxin(), 2, seed=0)
    d, s = central.builder.size, state_size(short_busy_gaoxin(), resolution)
    assert central.observation_space.shape == (d + s,)
    for env in (central, local):
        env.reset()
    rng = np.random.default_rng(1)
    for _ in range(30):
        masks = central.action_masks()
        np.testing.assert_array_equal(masks, local.action_masks())
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        rows, *_ = central.step(actions)
        obs, *_ = local.step(actions)
    np.testing.assert_array_equal(rows[:, :d], obs)
    state = np.repeat(central.builder.state(resolution), central.n_agents, axis=0)
    np.testing.assert_array_equal(rows[:, d:], state)
    assert all(central.observation_space.contains(row) for row in rows)
    assert rows[:, d:].any()  # a state with units and calls in it, not zeros


def test_observe_with_state_is_observe_then_state():
    sim = _central_env(3).sim
    sim.reset(seeds=[4, 5, 6])
    builder = ObservationBuilder(sim, move_gains=True)
    rows = builder.observe_with_state()
    assert rows.shape == (3, sim.n_units, builder.size + builder.state_size)
    np.testing.assert_array_equal(rows[..., : builder.size], builder.observe())
    np.testing.assert_array_equal(rows[:, 0, builder.size :], builder.state())
    blocks = builder.observe_with_state("blocks")
    np.testing.assert_array_equal(blocks[:, 0, builder.size :], builder.state("blocks"))


def test_the_block_state_pools_the_cell_state():
    env = _central_env(2)
    _advance(env, 60)
    district, builder = env.district, env.builder
    channels = len(STATE_CHANNELS)
    cells = builder.state()[:, :-2].reshape(2, district.n_cells, channels)
    blocks = builder.state("blocks")
    assert blocks.shape == (2, state_size(district, "blocks"))
    np.testing.assert_array_equal(blocks[:, -2:], builder.state()[:, -2:])  # the clock
    pooled = blocks[:, :-2].reshape(2, -1, channels)
    rows, cols = coarse_blocks(district)
    block = district.config.simulation.coarse_block_cells
    of_cell = (district.cell_rc[:, 0] // block) * cols + district.cell_rc[:, 1] // block
    for g in range(rows * cols):
        inside = cells[:, of_cell == g]
        for c, name in enumerate(STATE_CHANNELS):
            want = inside[..., c].mean(axis=1) if name == "presence" else inside[..., c].sum(1)
            np.testing.assert_allclose(pooled[:, g, c], want, rtol=1e-5, atol=1e-6)
    assert pooled[..., STATE_CHANNELS.index("available_units")].sum() > 0
    assert pooled[..., STATE_CHANNELS.index("presence")].max() > 0
    low, high = state_bounds(district, "blocks")
    assert ((blocks >= low) & (blocks <= high)).all()
    with pytest.raises(ValueError, match="resolution"):
        builder.state("rows")


# ------------------------------------------------------------------ the policy
@pytest.mark.parametrize(
    ("algorithm", "resolution"), [("maskable_ppo", "cells"), ("ppo", "cells"), ("ppo", "blocks")]
)
def test_the_critic_reads_the_state_and_the_actor_does_not(algorithm, resolution):
    env = _central_env(resolution=resolution)
    policy = _model(algorithm, env).policy
    d = env.builder.size
    rows = torch.as_tensor(_advance(env, 20))
    actor = ActorLogits(policy)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        logits, values = actor(rows), policy.predict_values(rows)
        other_state = rows.clone()
        other_state[:, d:] += torch.rand(rows[:, d:].shape, generator=generator)
        other_own = rows.clone()
        other_own[:, :d] += torch.rand(rows[:, :d].shape, generator=generator)

        torch.testing.assert_close(actor(other_state), logits, rtol=0, atol=0)
        assert (policy.predict_values(other_state) - values).abs().min() > 0
        assert (actor(other_own) - logits).abs().amax(dim=1).min() > 0
        # The actor takes the unit's observation alone as well.
        torch.testing.assert_close(actor(rows[:, :d]), logits, rtol=0, atol=0)


def test_the_split_survives_save_and_load(tmp_path):
    env = _central_env()
    model = _model("maskable_ppo", env)
    model.save(tmp_path / "model.zip")
    loaded = MaskablePPO.load(tmp_path / "model.zip", device="cpu")
    assert isinstance(loaded.policy, MaskableCentralCriticPolicy)
    assert loaded.policy.actor_columns == env.builder.size
    rows = torch.as_tensor(env.reset())
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.policy.predict_values(rows), model.policy.predict_values(rows)
        )
    assert isinstance(_model("ppo", env).policy, CentralCriticPolicy)


@pytest.mark.parametrize("part", ["none", "all"])
def test_the_actor_columns_leave_a_critic_part(part):
    env = _central_env()
    columns = 0 if part == "none" else env.observation_space.shape[0]
    with pytest.raises(ValueError, match="actor_columns"):
        MaskablePPO(
            MaskableCentralCriticPolicy, env, device="cpu", policy_kwargs={"actor_columns": columns}
        )


def test_the_critic_setting(tmp_path):
    config = tiny_config(tmp_path)
    assert load_train_config(write_config(tmp_path, config)).network.critic_state is None
    for critic, resolution in (("central", "cells"), ("central_blocks", "blocks")):
        config["network"]["critic"] = critic
        assert load_train_config(write_config(tmp_path, config)).network.critic_state == resolution
    config["network"]["critic"] = "global"
    with pytest.raises(ConfigError, match="network.critic"):
        load_train_config(write_config(tmp_path, config))


# ------------------------------------------------------------------ a whole run
@pytest.fixture(scope="module", params=["central", "central_blocks"])
def central_run(request, tmp_path_factory):
    """A tiny MaskablePPO run with a centralised critic (per cell, per block), warm-started
    by imitation, through the CLI: (folder, run_dir, exit code, stdout, stderr)."""
    folder = tmp_path_factory.mktemp(request.param)
    config = tiny_config(
        folder,
        "maskable_ppo",
        network={"net_arch": [16], "critic": request.param},
        pretrain={"teacher": "nearest", "days": 1, "epochs": 1, "batch_size": 512},
    )
    run_dir = folder / "run"
    code, out, err = run_cli(
        "train", "--config", write_config(folder, config), "--run-dir", run_dir, "--no-progress"
    )
    return folder, run_dir, code, out, err


@pytest.mark.slow
def test_a_central_critic_run_trains_through_the_cli(central_run):
    _, run_dir, code, out, err = central_run
    assert code == 0, err
    assert "imitated nearest" in out
    assert json.loads((run_dir / "final.json").read_text())["summary"]["response_mean"] > 0
    model = MaskablePPO.load(run_dir / "final.zip", device="cpu")
    resolution = load_train_config(run_dir / "config.yaml").network.critic_state
    d = _central_env().builder.size
    assert isinstance(model.policy, MaskableCentralCriticPolicy)
    assert model.policy.actor_columns == d
    assert model.observation_space.shape == (d + state_size(short_busy_gaoxin(), resolution),)
    assert model.num_timesteps >= 4000


@pytest.mark.slow
def test_a_central_critic_run_resumes(central_run, tmp_path):
    _, run_dir, code, _, err = central_run
    assert code == 0, err
    copy = shutil.copytree(run_dir, tmp_path / "run")
    done = MaskablePPO.load(copy / "final.zip", device="cpu").num_timesteps
    code, out, err = run_cli("train", "--resume", copy, "--timesteps", done + 448, "--no-progress")
    assert code == 0, err
    assert f"resuming {copy} at step {done:,}" in out
    resumed = MaskablePPO.load(copy / "final.zip", device="cpu")
    assert resumed.num_timesteps == done + 448
    assert isinstance(resumed.policy, MaskableCentralCriticPolicy)


@pytest.mark.slow
def test_a_central_critic_run_exports_and_evaluates_on_unit_observations(central_run, tmp_path):
    folder, run_dir, code, _, err = central_run
    assert code == 0, err
    district = District.load(folder / "district.yaml")
    d = _central_env().builder.size
    out = export_run(run_dir, tmp_path / "export")
    graph = onnx.load(str(out / "policy.onnx")).graph
    observation = next(i for i in graph.input if i.name == "observation")
    assert [dim.dim_value for dim in observation.type.tensor_type.shape.dim][1] == d
    card = json.loads((out / "policy.json").read_text())
    assert card["observation"]["size"] == d

    sb3_policy = SB3ModelPolicy.from_file(run_dir / "best.zip", district)
    assert sb3_policy.normalizer is not None and sb3_policy.normalizer.mean.shape == (d,)
    seeds = day_seeds(0, 1)
    theirs = run_policy(district, sb3_policy, seeds)
    ours = run_policy(district, OnnxPolicy(out / "policy.onnx", district), seeds)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.status, b.status)
        np.testing.assert_array_equal(a.unit, b.unit)
