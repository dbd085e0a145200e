"""Bad sweep files and flags: one line each, exit 2, nothing written (no Ray started)."""

from __future__ import annotations

import socket
import sys

import pytest

from patrolmarl.training.sweep import load_sweep, with_params
from tests.helpers import REPO, assert_one_line_error, run_cli
from tests.training.helpers import (
    tiny_base,
    write_config,
    write_sweep,
)


def test_a_good_sweep_file_loads(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    assert sweep.trials == 2
    assert [(d.path, d.kind, d.values) for d in sweep.dimensions] == [
        ("ppo.learning_rate", "log_uniform", (1e-4, 1e-2)),
        ("reward.theft", "choice", (30, 90)),
    ]
    config = sweep.config_with({"ppo.learning_rate": 0.005, "reward.theft": 90})
    assert config.ppo.learning_rate == 0.005 and config.reward.theft == 90
    assert config.ppo.n_steps == 32  # the rest is the base's
    assert sweep.base["district"].startswith("/")  # trials run in other working folders


def test_grid_size_and_fixed_fields(tmp_path):
    path = write_sweep(
        tmp_path,
        search="grid",
        trials=None,
        fixed={"n_districts": 2},
        space={"reward.theft": {"choice": [30, 60, 90]}, "ppo.n_epochs": {"choice": [1, 2]}},
    )
    sweep = load_sweep(path)
    assert sweep.trials == 6
    assert sweep.config_with({"reward.theft": 30, "ppo.n_epochs": 1}).n_districts == 2


def test_with_params_copies():
    base = {"ppo": {"learning_rate": 1.0}, "seed": 0}
    assert with_params(base, {"ppo.learning_rate": 2.0}) == {
        "ppo": {"learning_rate": 2.0},
        "seed": 0,
    }
    assert base["ppo"]["learning_rate"] == 1.0


BAD_SWEEPS = {
    "unknown field path": (
        {"space": {"ppo.learning_rat": {"uniform": [0.1, 0.2]}}},
        ["space.ppo.learning_rat", "unknown training config field"],
    ),
    "unknown section": (
        {"space": {"optimizer.lr": {"uniform": [0.1, 0.2]}}},
        ["space.optimizer.lr", "unknown training config field"],
    ),
    "a section, not a field": (
        {"space": {"ppo": {"choice": [1, 2]}}},
        ["space.ppo", "a section, not a field"],
    ),
    "searched seed": ({"space": {"seed": {"choice": [1, 2]}}}, ["space.seed", "seeds"]),
    "empty range": (
        {"space": {"ppo.learning_rate": {"uniform": [0.001, 0.001]}}},
        ["space.ppo.learning_rate", "empty range"],
    ),
    "inverted range": (
        {"space": {"ppo.ent_coef": {"uniform": [0.1, 0.01]}}},
        ["space.ppo.ent_coef", "inverted range"],
    ),
    "inverted integer range": (
        {"space": {"ppo.n_epochs": {"integer": [4, 2]}}},
        ["space.ppo.n_epochs", "inverted range"],
    ),
    "log of zero": (
        {"space": {"ppo.ent_coef": {"log_uniform": [0.0, 0.1]}}},
        ["space.ppo.ent_coef", "log_uniform needs low above 0"],
    ),
    "fractions for a whole field": (
        {"space": {"ppo.n_epochs": {"uniform": [1, 4]}}},
        ["space.ppo.n_epochs", "use integer"],
    ),
    "fractional integer bounds": (
        {"space": {"ppo.n_epochs": {"integer": [1.5, 4]}}},
        ["space.ppo.n_epochs", "two whole numbers"],
    ),
    "booleans as bounds": (
        {"space": {"ppo.ent_coef": {"uniform": [False, True]}}},
        ["space.ppo.ent_coef", "two finite numbers"],
    ),
    "infinite bound": (
        {"space": {"ppo.ent_coef": {"uniform": [0.0, float("inf")]}}},
        ["space.ppo.ent_coef", "two finite numbers"],
    ),
    "range out of the field's bounds": (
        {"space": {"ppo.learning_rate": {"uniform": [-0.1, 0.1]}}},
        ["space.ppo.learning_rate", "-0.1", "greater than 0"],
    ),
    "invalid choice": (
        {"space": {"network.activation": {"choice": ["tanh", "gelu"]}}},
        ["space.network.activation", "'gelu'"],
    ),
    "empty choice": ({"space": {"reward.theft": {"choice": []}}}, ["space.reward.theft", "empty"]),
    "unknown distribution": (
        {"space": {"reward.theft": {"normal": [60, 10]}}},
        ["space.reward.theft", "expected one of choice, uniform, log_uniform, integer"],
    ),
    "empty space": ({"space": {}}, ["space", "at least 1"]),
    "unknown metric": ({"metric": "reward"}, ["metric", "'score'"]),
    "zero trials": ({"trials": 0}, ["trials", "greater than or equal to 1"]),
    "boolean trials": ({"trials": True}, ["trials", "integer"]),
    "no trials for tpe": ({"trials": None, "search": "tpe"}, ["trials", "required for search tpe"]),
    "grid over a range": ({"search": "grid", "trials": None}, ["search", "choice"]),
    "grid of another size": (
        {"search": "grid", "trials": 3, "space": {"reward.theft": {"choice": [30, 90]}}},
        ["trials", "the grid has 2 trials, not 3"],
    ),
    "no seeds": ({"seeds": []}, ["seeds", "at least 1"]),
    "a seed twice": ({"seeds": [1, 1]}, ["seeds", "twice"]),
    "unknown sweep field": ({"sampler": "tpe"}, ["sampler", "unknown field"]),
    "unknown fixed field": ({"fixed": {"ppo.n_stepz": 8}}, ["fixed.ppo.n_stepz", "unknown"]),
    "bad fixed value": ({"fixed": {"n_districts": 0}}, ["fixed.n_districts", "greater than"]),
    "no evaluation during training": (
        {"fixed": {"eval.freq": 100_000}},
        ["fixed", "eval.freq 100,000 is above total_timesteps 896"],
    ),
    "a range without evaluations": (
        {"space": {"total_timesteps": {"integer": [100, 896]}}},
        ["space.total_timesteps", "100", "no evaluation during training"],
    ),
    "fewer CPUs per trial than torch threads": (
        {"fixed": {"torch_threads": 2}, "resources": {"cpus_per_trial": 1}},
        ["resources.cpus_per_trial", "oversubscribe"],
    ),
    "fixed and searched": (
        {"fixed": {"reward.theft": 60}},
        ["space.reward.theft", "also set in fixed"],
    ),
    "missing base": ({"base": "nope.yaml"}, ["base", "nope.yaml", "not found"]),
}


@pytest.mark.parametrize("kind", sorted(BAD_SWEEPS))
def test_bad_sweep_file(tmp_path, kind):
    changes, pieces = BAD_SWEEPS[kind]
    path = write_sweep(tmp_path, **changes)
    out_dir = tmp_path / "out"
    code, out, err = run_cli("sweep", "--config", path, "--out", out_dir)
    assert_one_line_error(code, out, err, str(path), *pieces)
    assert out == "" and not out_dir.exists()


def test_malformed_and_missing_sweep_files(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("space: {ppo.learning_rate: [unclosed\n")
    code, out, err = run_cli("sweep", "--config", path, "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, str(path), "malformed YAML")
    code, out, err = run_cli("sweep", "--config", tmp_path / "missing.yaml")
    assert_one_line_error(code, out, err, "missing.yaml", "not found")
    assert not (tmp_path / "out").exists()


def test_bad_base_config_names_the_base_file(tmp_path):
    path = write_sweep(tmp_path)
    base = tiny_base(tmp_path)
    base["ppo"]["n_stepz"] = 3
    write_config(tmp_path, base, "base.yaml")
    code, out, err = run_cli("sweep", "--config", path, "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, "base.yaml", "ppo.n_stepz", "unknown field")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address(tmp_path):
    path = write_sweep(tmp_path)
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    code, out, err = run_cli(
        "sweep", "--config", path, "--out", tmp_path / "out", "--address", address
    )
    assert_one_line_error(code, out, err, f"--address {address}", "no Ray cluster answers")
    assert not (tmp_path / "out").exists()
    code, out, err = run_cli("sweep", "--config", path, "--address", "nowhere")
    assert_one_line_error(code, out, err, "--address", "HOST:PORT")


def test_flags(tmp_path):
    code, out, err = run_cli("sweep")
    assert_one_line_error(code, out, err, "--config")
    code, out, err = run_cli("sweep", "--resume", tmp_path)
    assert_one_line_error(code, out, err, str(tmp_path), "not a sweep folder")
    code, out, err = run_cli("sweep", "--resume", tmp_path, "--config", write_sweep(tmp_path))
    assert_one_line_error(code, out, err, "--resume")


def test_existing_folder_is_not_overwritten(tmp_path):
    path = write_sweep(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("mine")
    code, out, err = run_cli("sweep", "--config", path, "--out", out_dir)
    assert_one_line_error(code, out, err, str(out_dir), "not an empty folder")
    (out_dir / "sweep.json").write_text("{}")
    code, out, err = run_cli("sweep", "--config", path, "--out", out_dir)
    assert_one_line_error(code, out, err, str(out_dir), "use --resume")
    assert sorted(p.name for p in out_dir.iterdir()) == ["notes.txt", "sweep.json"]


def test_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    path = write_sweep(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, out, err = run_cli("sweep", "--config", path, "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, "Ray Tune and Optuna", "pip install 'patrolmarl[sweep]'")
    assert not (tmp_path / "out").exists()

    from patrolmarl.training.ray_cluster import ray_installed

    assert not ray_installed()  # so `train --seeds` trains them one by one


@pytest.mark.parametrize("name", ["ppo_search.yaml", "theft_weight_grid.yaml"])
def test_committed_sweep_files_load(name):

    sweep = load_sweep(REPO / "configs" / "sweeps" / name)
    assert sweep.trials >= 4
    assert sweep.config_with({d.path: d.values[0] for d in sweep.dimensions}).seed == 0
