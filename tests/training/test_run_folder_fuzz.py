"""Hypothesis fuzz of damaged run folders: ``train --resume`` exits 0, or 2 with one line.

One tiny run (two rollouts, a checkpoint after each) is trained once per module;
every example damages a copy of its folder (files deleted, replaced by garbage,
emptied, truncated, turned into a JSON list or a folder) and resumes it. The run
is already at its total, so a resume that is accepted only redoes the final
evaluation.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import run_cli
from tests.training.helpers import AGENTS, tiny_config, write_config

ROLLOUT = 32 * AGENTS
CHECKPOINT = "checkpoints/step_{last}"
TARGETS = [
    "config.yaml",
    "district.json",
    "best.zip",
    "best_vecnormalize.pkl",
    "final.zip",
    "final.json",
    "report",
    "report/metrics.json",
    "tb",
    "checkpoints",
    "checkpoints/latest",
    CHECKPOINT,
    CHECKPOINT + "/model.zip",
    CHECKPOINT + "/rng.pt",
    CHECKPOINT + "/vecnormalize.pkl",
    CHECKPOINT + "/state.json",
    "checkpoints/step_{first}/model.zip",
    "checkpoints/step_{first}/state.json",
]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _blocked(path: Path) -> bool:
    """An earlier damage turned a parent folder into a file: nothing to damage here."""
    return any(p.exists() and not p.is_dir() for p in path.parents)


def _replace(path: Path, data: bytes) -> None:
    if _blocked(path):
        return
    _remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _truncate(path: Path) -> None:
    if path.is_file():
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _into_folder(path: Path) -> None:
    if _blocked(path):
        return
    _remove(path)
    path.mkdir(parents=True)


DAMAGES = {
    "delete": _remove,
    "garbage": lambda p: _replace(p, b"\x00\xffnot what it should be\x80" * 8),
    "empty": lambda p: _replace(p, b""),
    "truncate": _truncate,
    "json list": lambda p: _replace(p, b"[1, 2, 3]"),
    "json object": lambda p: _replace(p, b'{"num_timesteps": "many", "config": 3}'),
    "folder": _into_folder,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzzed")
    changes = {
        "total_timesteps": 2 * ROLLOUT,
        "checkpoint_freq": ROLLOUT,
        "eval": {"freq": ROLLOUT, "days": 1, "final_days": 1, "final_baselines": ["nearest"]},
    }
    config = write_config(folder, tiny_config(folder, **changes))
    run_dir = folder / "run"
    code, _, err = run_cli("train", "--config", config, "--run-dir", run_dir, "--no-progress")
    assert code == 0, err
    assert len(list((run_dir / "checkpoints").glob("step_*"))) == 2
    return run_dir


damage_plans = st.lists(
    st.tuples(st.sampled_from(TARGETS), st.sampled_from(sorted(DAMAGES))), min_size=1, max_size=3
)


@pytest.mark.slow
@settings(
    max_examples=6,  # an accepted resume redoes the final report: ~2-6 s each
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run (CI reproduces what it finds)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=damage_plans)
@example(plan=[("config.yaml", "garbage")])  # found by this fuzz: a resume crashed rewriting it
def test_damaged_run_folder_resumes_or_refuses_in_one_line(tiny_run, tmp_path, plan):
    run_dir = tmp_path / uuid.uuid4().hex[:8]
    shutil.copytree(tiny_run, run_dir)
    steps = {"first": ROLLOUT, "last": 2 * ROLLOUT}
    for target, damage in plan:
        DAMAGES[damage](run_dir / target.format(**steps))
    code, out, err = run_cli("train", "--resume", run_dir, "--no-progress")
    assert "Traceback" not in out + err
    if code == 0:
        assert out.splitlines()[-1] == f"report: {run_dir / 'report' / 'report.html'}"
        assert (run_dir / "final.json").is_file()
    else:
        assert code == 2, (plan, code, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("patrolmarl: error: "), (plan, err)
    shutil.rmtree(run_dir)
