"""Training and evaluating on macro actions (``actions: posts``): the config's checks, the
evaluator's policy reproducing the training env, loading a macro model and refusing to
export one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sb3_contrib import MaskablePPO

from patrolmarl.agents.candidate_posts import candidate_posts
from patrolmarl.agents.learned import SB3ModelPolicy
from patrolmarl.agents.macro_policy import MacroPostPolicy, load_zip_policy
from patrolmarl.agents.policy import policy_dispatch
from patrolmarl.envs.dispatch_rule import NEAREST
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.macro_actions import MacroActionVecEnv
from patrolmarl.errors import ConfigError, PatrolMarlError
from patrolmarl.evaluation.runner import run_policy
from patrolmarl.training.config import TrainConfig
from patrolmarl.training.export import export_run
from patrolmarl.training.macro_run import macro_vec_env
from tests.helpers import SHORT_BUSY, assert_one_line_error, run_cli, short_busy_gaoxin
from tests.training.helpers import tiny_config, write_config

N_POSTS = 8
TINY_POSTS = 3


def _macro_env(seed: int = 0) -> MacroActionVecEnv:
    """An hour of busy gaoxin over posts spread on the grid (no p-median to solve)."""
    district = District.load("gaoxin", **(SHORT_BUSY | {"episode_minutes": 60}))
    posts = np.tile(np.linspace(0, district.n_cells - 1, N_POSTS).astype(np.int64), (24, 1))
    return MacroActionVecEnv(district, 1, posts, seed=seed)


def _model(env: MacroActionVecEnv) -> MaskablePPO:
    return MaskablePPO("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [16]})


BAD = {
    "posts under the agents' dispatch": ({"dispatch": "agents"}, ["actions", "nearest"]),
    "posts with a teacher": (
        {"dispatch": "nearest", "pretrain": {"teacher": "pmedian"}},
        ["actions", "pretrain.teacher"],
    ),
    "negative dwell": ({"dispatch": "nearest", "macro": {"dwell_minutes": -1}}, ["dwell"]),
    "unknown actions": ({"actions": "options"}, ["actions"]),
    "posts with a centralised critic": (
        {"dispatch": "nearest", "network": {"net_arch": [16], "critic": "central_blocks"}},
        ["network.critic", "primitive"],
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_macro_configs_are_one_line_errors(tmp_path, kind):
    changes, pieces = BAD[kind]
    config = tiny_config(tmp_path, "maskable_ppo", actions="posts") | changes
    path = write_config(tmp_path, config, "bad.yaml")
    code, out, err = run_cli("train", "--config", path, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, out, err, str(path), *pieces)
    assert not (tmp_path / "run").exists()


def test_more_posts_than_cells_is_a_config_error():
    district = short_busy_gaoxin()
    config = TrainConfig(actions="posts", dispatch="nearest", macro={"n_posts": 10_000})
    with pytest.raises(ConfigError, match="macro.n_posts"):
        macro_vec_env(district, config, "run.yaml")


def test_the_evaluators_policy_moves_the_units_as_the_training_env_does():
    env = _macro_env(seed=7)
    model = _model(env)
    obs = env.reset()
    day = env.sim.episode_seed[0]
    trained_cells = []
    for _ in range(env.sim.n_steps):
        trained_cells.append(env.sim.unit_cell[0].copy())
        actions, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        obs = env.step(actions)[0]
    policy = MacroPostPolicy(
        SB3ModelPolicy(model, None, "macro", dispatch=NEAREST), env.orders.posts
    )
    evaluated_cells = []
    run_policy(
        env.district,
        policy,
        [day],
        observe=lambda view: evaluated_cells.append(view.unit_cell[0].copy()),
    )
    assert policy_dispatch(policy) is NEAREST
    np.testing.assert_array_equal(np.array(evaluated_cells), np.array(trained_cells))
    assert len({tuple(c) for c in trained_cells}) > 5  # the units did go places


@pytest.fixture
def macro_run(tiny_district, tmp_path) -> Path:
    """A run folder of an untrained macro-action model of the tiny district (its posts
    solve in milliseconds; no observation normalisation)."""
    run = tmp_path / "run"
    run.mkdir()
    district = tiny_district()
    posts = candidate_posts(district, IncidentModel(district), TINY_POSTS)
    _model(MacroActionVecEnv(district, 1, posts)).save(run / "best.zip")
    config = {
        "actions": "posts",
        "dispatch": "nearest",
        "macro": {"n_posts": TINY_POSTS, "dwell_minutes": 9},
        "normalize": {"observations": False},
    }
    write_config(run, config, "config.yaml")
    record = {"district": district.name, "district_config_sha256": district.config_sha256}
    (run / "district.json").write_text(json.dumps(record))
    return run


def test_a_macro_model_file_loads_as_a_macro_policy(macro_run, tiny_district):
    policy = load_zip_policy(macro_run / "best.zip", tiny_district())
    assert isinstance(policy, MacroPostPolicy)
    assert policy.posts.shape == (24, TINY_POSTS) and policy.dwell_minutes == 9
    assert policy_dispatch(policy) is NEAREST


def test_a_macro_model_of_other_posts_is_refused(macro_run, tiny_district):
    config = yaml.safe_load((macro_run / "config.yaml").read_text(encoding="utf-8"))
    config["macro"]["n_posts"] = TINY_POSTS + 1
    write_config(macro_run, config, "config.yaml")
    with pytest.raises(PatrolMarlError, match="observations of size"):
        load_zip_policy(macro_run / "best.zip", tiny_district())


def test_a_macro_model_is_not_a_plain_sb3_policy(macro_run, tiny_district):
    with pytest.raises(PatrolMarlError, match="macro actions"):
        SB3ModelPolicy.from_file(macro_run / "best.zip", tiny_district())


@pytest.mark.slow
def test_train_on_posts_then_evaluate_the_model(tmp_path):
    config = tiny_config(tmp_path, "maskable_ppo", actions="posts", dispatch="nearest")
    config |= {"total_timesteps": 896, "checkpoint_freq": 448}
    config["eval"]["freq"] = 448
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        "train", "--config", write_config(tmp_path, config), "--run-dir", run_dir, "--no-progress"
    )
    assert code == 0, err
    assert "eval @ 896" in out
    summary = json.loads((run_dir / "final.json").read_text(encoding="utf-8"))
    assert summary["summary"]["response_mean"] > 0
    code, out, err = run_cli(
        "evaluate",
        "--district",
        tmp_path / "district.yaml",
        "--policies",
        f"macro={run_dir / 'best.zip'}",
        "--days",
        "1",
        "--out",
        tmp_path / "report",
        "--no-progress",
    )
    assert code == 0, err
    assert "macro" in out
    with pytest.raises(PatrolMarlError, match="macro actions"):
        export_run(run_dir, tmp_path / "export")
