"""``patrolmarl train`` as a user runs it: in a terminal, with the progress bar, and a run
shorter than one simulated day that still shows domain scalars in tensorboard.

One tiny training runs under a pseudo-terminal (python's ``pty``), so SB3's
progress bar (tqdm + rich) is on; the in-process runs of test_train_cli cover
the path without a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli, run_in_terminal
from tests.training.helpers import AGENTS, DAY_MINUTES, scalars, tiny_config, write_config

SHORT = 2 * 32 * AGENTS  # two rollouts: a quarter of one simulated day
assert SHORT < DAY_MINUTES * AGENTS


@pytest.fixture(scope="module")
def terminal_run(tmp_path_factory) -> tuple[Path, int, str]:
    folder = tmp_path_factory.mktemp("terminal")
    config = write_config(folder, tiny_config(folder, total_timesteps=SHORT))
    run_dir = folder / "run"
    argv = [sys.executable, "-m", "patrolmarl", "train", "--config", str(config)]
    code, output = run_in_terminal(argv + ["--run-dir", str(run_dir)], cwd=folder)
    return run_dir, code, output


@pytest.mark.slow
def test_train_in_a_terminal_shows_the_progress_bar(terminal_run):
    run_dir, code, output = terminal_run
    assert code == 0, output
    assert "Traceback" not in output and "ImportError" not in output
    assert f"{SHORT}/{SHORT}" in output.replace(",", "")  # the bar's count, completed
    assert "━" in output  # rich's bar
    assert f"report: {run_dir / 'report' / 'report.html'}" in output


def test_train_without_a_terminal_shows_no_bar(tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path, total_timesteps=448))
    code, out, err = run_cli("train", "--config", config, "--run-dir", tmp_path / "run")
    assert code == 0, err
    assert "━" not in out + err and "448/448" not in out + err


@pytest.mark.slow
def test_run_shorter_than_a_day_logs_domain_scalars(terminal_run):
    run_dir, code, output = terminal_run
    assert code == 0, output
    (tb_run,) = [p for p in (run_dir / "tb").iterdir() if p.is_dir()]
    tags = scalars(tb_run)
    assert "patrol/response_mean" not in tags  # no day finished ...
    for name in ("response_mean", "response_p90", "thefts_per_day", "closure_rate"):
        points = tags.get(f"patrol_running/{name}")  # ... yet every rollout logged these
        assert points and [step for step, _ in points] == [SHORT // 2, SHORT], (name, tags)
        assert all(np.isfinite(v) and v >= 0 for _, v in points), name
    assert all(v > 0 for _, v in tags["patrol_running/response_mean"])
    days = [v for _, v in tags["patrol_running/days_simulated"]]
    assert days == pytest.approx(
        [0.5 * SHORT / (DAY_MINUTES * AGENTS), SHORT / (DAY_MINUTES * AGENTS)]
    )
