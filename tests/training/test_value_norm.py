"""Value normalisation (``network.value_norm``): the head, the statistics and the rescaled
value loss, save and load, a whole run with resume and export, bad settings."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from patrolmarl.envs.vec_env import PatrolVecEnv
from patrolmarl.training.config import load_train_config
from patrolmarl.training.export import export_run
from patrolmarl.training.policies import patrol_policy
from patrolmarl.training.value_norm import MIN_VARIANCE, ValueNormCallback, ValueNormHead
from tests.helpers import assert_one_line_error, run_cli, short_busy_gaoxin
from tests.training.helpers import tiny_config, write_config

ALGORITHMS = {"ppo": PPO, "maskable_ppo": MaskablePPO}
BASE_VF_COEF = 0.5


def _env(central: bool) -> PatrolVecEnv:
    return PatrolVecEnv(short_busy_gaoxin(), 1, seed=0, critic_state="blocks" if central else None)


def _model(algorithm: str, env: PatrolVecEnv, central: bool):
    kwargs = {"net_arch": [16]} | ({"actor_columns": env.builder.size} if central else {})
    return ALGORITHMS[algorithm](
        patrol_policy(algorithm, central, value_norm=True),
        env,
        n_steps=32,
        batch_size=64,
        vf_coef=BASE_VF_COEF,
        seed=0,
        device="cpu",
        policy_kwargs=kwargs,
    )


def _returns(shape: tuple[int, ...], mean: float, std: float, seed: int) -> np.ndarray:
    """Returns of exactly this mean and deviation (seeded)."""
    z = np.random.default_rng(seed).normal(size=shape)
    return mean + std * (z - z.mean()) / z.std()


def _after_rollout(model, returns: np.ndarray) -> ValueNormCallback:
    """The callback after a rollout whose buffer holds ``returns``."""
    callback = ValueNormCallback(BASE_VF_COEF)
    callback.init_callback(model)
    model.rollout_buffer.returns[:] = returns
    callback.on_rollout_end()
    return callback


def _latent(policy, obs: torch.Tensor) -> torch.Tensor:
    return policy.mlp_extractor.forward_critic(
        policy.extract_features(obs, policy.vf_features_extractor)
    )


# ------------------------------------------------------------------ head and statistics
def test_the_head_outputs_mean_plus_std_times_its_linear():
    env = _env(central=False)
    model = _model("maskable_ppo", env, central=False)
    head = model.policy.value_net
    assert isinstance(head, ValueNormHead) and isinstance(head.linear, torch.nn.Linear)
    obs = torch.as_tensor(env.reset())
    with torch.no_grad():
        normalised = head.linear(_latent(model.policy, obs))
        # Before any rollout: the Linear alone.
        torch.testing.assert_close(model.policy.predict_values(obs), normalised)
        buffer = model.rollout_buffer.returns
        _after_rollout(model, _returns(buffer.shape, 50.0, 10.0, seed=1))
        torch.testing.assert_close(model.policy.predict_values(obs), 50.0 + 10.0 * normalised)


def test_the_callback_fits_the_rollout_returns_and_rescales_vf_coef():
    model = _model("ppo", _env(central=False), central=False)
    shape = model.rollout_buffer.returns.shape
    head = model.policy.value_net
    first = _returns(shape, 50.0, 10.0, seed=1)
    _after_rollout(model, first)
    assert head.mean.item() == pytest.approx(50.0) and head.std.item() == pytest.approx(10.0)
    assert head.count.item() == first.size
    assert model.vf_coef == pytest.approx(BASE_VF_COEF / 100)
    # A second rollout: the statistics of every return so far.
    second = _returns(shape, -20.0, 3.0, seed=2)
    _after_rollout(model, second)
    pooled = np.concatenate([first.ravel(), second.ravel()])
    assert head.mean.item() == pytest.approx(pooled.mean())
    assert head.std.item() == pytest.approx(pooled.std())
    assert model.vf_coef == pytest.approx(BASE_VF_COEF / pooled.var())


def test_constant_returns_leave_the_deviation_at_its_floor():
    model = _model("ppo", _env(central=False), central=False)
    _after_rollout(model, np.full(model.rollout_buffer.returns.shape, 7.0))
    head = model.policy.value_net
    assert head.mean.item() == pytest.approx(7.0)
    assert head.std.item() == pytest.approx(MIN_VARIANCE**0.5)
    assert model.vf_coef == pytest.approx(BASE_VF_COEF / MIN_VARIANCE)


def test_the_raw_scale_loss_is_the_normalised_loss():
    """SB3's loss ``vf_coef * (R - value)**2`` with the callback's ``vf_coef`` equals
    ValueNorm's ``base * ((R - m) / s - v)**2``, and so do its gradients."""
    head = ValueNormHead(torch.nn.Linear(8, 1))
    generator = torch.Generator().manual_seed(0)
    head.update(np.random.default_rng(3).normal(40.0, 6.0, size=500))
    latent = torch.randn(256, 8, generator=generator)
    returns = 40.0 + 6.0 * torch.randn(256, 1, generator=generator)
    mean, std = head.mean.float(), head.std.float()
    vf_coef = BASE_VF_COEF / std**2

    raw = vf_coef * torch.nn.functional.mse_loss(returns, head(latent))
    (raw_grad,) = torch.autograd.grad(raw, head.linear.weight)
    normalised = BASE_VF_COEF * torch.nn.functional.mse_loss(
        (returns - mean) / std, head.linear(latent)
    )
    (normalised_grad,) = torch.autograd.grad(normalised, head.linear.weight)
    torch.testing.assert_close(raw, normalised)
    torch.testing.assert_close(raw_grad, normalised_grad)
    assert raw.item() > 0


# ------------------------------------------------------------------ save and load
@pytest.mark.parametrize("central", [False, True], ids=["local", "central"])
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_save_and_load_keep_the_statistics_and_the_values(tmp_path, algorithm, central):
    env = _env(central)
    model = _model(algorithm, env, central)
    _after_rollout(model, _returns(model.rollout_buffer.returns.shape, 50.0, 10.0, seed=1))
    model.save(tmp_path / "model.zip")
    loaded = ALGORITHMS[algorithm].load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.policy) is type(model.policy)
    head, restored = model.policy.value_net, loaded.policy.value_net
    assert isinstance(restored, ValueNormHead)
    for name in ("mean", "var", "count"):
        assert getattr(restored, name).item() == getattr(head, name).item()
    obs = torch.as_tensor(env.reset())
    with torch.no_grad():
        values = model.policy.predict_values(obs)
        torch.testing.assert_close(loaded.policy.predict_values(obs), values)
    assert values.mean().item() == pytest.approx(50.0, abs=30.0)  # on the returns' scale


# ------------------------------------------------------------------ a whole run
@pytest.fixture(scope="module")
def value_norm_run(tmp_path_factory):
    """A tiny MaskablePPO run with value normalisation through the CLI:
    (folder, run_dir, exit code, stderr)."""
    folder = tmp_path_factory.mktemp("value_norm")
    config = tiny_config(folder, "maskable_ppo", network={"net_arch": [16], "value_norm": True})
    run_dir = folder / "run"
    code, _, err = run_cli(
        "train", "--config", write_config(folder, config), "--run-dir", run_dir, "--no-progress"
    )
    return folder, run_dir, code, err


@pytest.mark.slow
def test_a_value_norm_run_trains_and_resumes_its_statistics(value_norm_run, tmp_path):
    _, run_dir, code, err = value_norm_run
    assert code == 0, err
    assert load_train_config(run_dir / "config.yaml").network.value_norm is True
    model = MaskablePPO.load(run_dir / "final.zip", device="cpu")
    head = model.policy.value_net
    assert isinstance(head, ValueNormHead)
    assert head.count.item() == model.num_timesteps  # every rollout's returns, once
    assert model.vf_coef == pytest.approx(BASE_VF_COEF / head.std.item() ** 2)

    copy = shutil.copytree(run_dir, tmp_path / "run")
    done = model.num_timesteps
    code, out, err = run_cli("train", "--resume", copy, "--timesteps", done + 448, "--no-progress")
    assert code == 0, err
    assert f"resuming {copy} at step {done:,}" in out
    resumed = MaskablePPO.load(copy / "final.zip", device="cpu")
    again = resumed.policy.value_net
    assert again.count.item() == done + 448  # continued, not restarted
    assert again.mean.item() != head.mean.item()
    # The configured weight rescaled, not the saved (already rescaled) one.
    assert resumed.vf_coef == pytest.approx(BASE_VF_COEF / again.std.item() ** 2)


@pytest.mark.slow
def test_a_value_norm_run_exports_its_actor(value_norm_run, tmp_path):
    _, run_dir, code, err = value_norm_run
    assert code == 0, err
    out = export_run(run_dir, tmp_path / "export")
    graph = onnx.load(str(out / "policy.onnx")).graph
    observation = next(i for i in graph.input if i.name == "observation")
    size = [dim.dim_value for dim in observation.type.tensor_type.shape.dim][1]
    assert size == _env(central=False).builder.size


# ------------------------------------------------------------------ bad settings
@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_value_norm_must_be_a_boolean(tmp_path, value):
    config = tiny_config(tmp_path, network={"net_arch": [16], "value_norm": value})
    path = write_config(tmp_path, config, "bad.yaml")
    run_dir = tmp_path / "run"
    code, out, err = run_cli("train", "--config", path, "--run-dir", run_dir, "--no-progress")
    assert_one_line_error(code, out, err, str(path), "network.value_norm")
    assert out == ""
    assert not run_dir.exists()
