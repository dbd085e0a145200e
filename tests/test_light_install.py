"""The light install: advisory tools run without the training extra (torch, SB3, sb3-contrib,
tensorboard, tqdm), and commands that need it say which extra to install."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from patrolmarl.advise import load_advisor
from patrolmarl.advise.serve import create_app
from patrolmarl.cli import INSTALL_TRAINING, TRAINING_MODULES
from tests.helpers import (
    CLI_CODE,
    REPO,
    assert_one_line_error,
    run_cli,
    run_without_training,
)

POLICY = REPO / "models" / "gaoxin"
EXAMPLE = REPO / "schemas" / "snapshot.example.json"
# Building the service's app on a base install (plus the serve extra); prints its OpenAPI.
SERVE_CODE = (
    "import json\n"
    "from pathlib import Path\n"
    "from patrolmarl.advise import load_advisor\n"
    "from patrolmarl.advise.serve import create_app\n"
    "print(json.dumps(create_app(load_advisor(Path(sys.argv[1]))).openapi(), sort_keys=True))\n"
)


def _names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, spelt as their modules (``-`` -> ``_``)."""
    return {re.match(r"[A-Za-z0-9_.-]+", r).group().lower().replace("-", "_") for r in requirements}


def test_base_dependencies_leave_the_training_stack_to_its_extra():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's TOML reader")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert not _names(project["dependencies"]) & TRAINING_MODULES
    assert _names(extras["train"]) == TRAINING_MODULES
    assert "patrolmarl[train]" in extras["dev"]  # the README's test command installs it


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["advise", "--policy", POLICY, "--snapshot", EXAMPLE], id="advise"),
        pytest.param(
            ["advise", "--policy", POLICY / "policy.onnx", "--snapshot", EXAMPLE, "--json"],
            id="advise-json",
        ),
        pytest.param(["simulate", "--district", "gaoxin", "--days", "1"], id="simulate"),
        pytest.param(["simulate", "--policy", POLICY, "--json"], id="simulate-export"),
    ],
)
def test_advisory_commands_run_alike_without_the_training_extra(argv):
    code, out, err = run_cli(*argv)
    assert code == 0, err
    light = run_without_training(CLI_CODE, *argv)
    assert light.returncode == 0, light.stderr
    assert light.stdout == out


def test_the_service_app_builds_without_the_training_extra():
    light = run_without_training(SERVE_CODE, POLICY)
    assert light.returncode == 0, light.stderr
    assert json.loads(light.stdout) == create_app(load_advisor(POLICY)).openapi()


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        pytest.param(["train", "--config", "configs/train/ppo.yaml"], "torch", id="train"),
        pytest.param(["train", "--resume", "runs/none"], "torch", id="train-resume"),
        pytest.param(
            ["sweep", "--config", "configs/sweeps/ppo_search.yaml", "--out", "sweep"],
            "stable_baselines3",
            id="sweep",
        ),
        pytest.param(["export", POLICY, "--out", "export"], "torch", id="export"),
        pytest.param(["simulate", "--policy", POLICY / "best.zip"], "torch", id="simulate-zip"),
    ],
)
def test_training_commands_name_the_missing_extra(argv, missing, tmp_path: Path):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    done = run_without_training(CLI_CODE, *argv, cwd=tmp_path)
    line = assert_one_line_error(done.returncode, done.stdout, done.stderr, INSTALL_TRAINING)
    assert line == (
        f"patrolmarl: error: {argv[0]} needs the training extra ({missing} is not installed): "
        f"{INSTALL_TRAINING}"
    )
    assert not (tmp_path / "export").exists() and not (tmp_path / "sweep").exists()
