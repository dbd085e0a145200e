"""``patrolmarl sweep`` end to end on local Ray: trial folders, table, best config, resume.

Tiny trials (see tests/training/test_sweep_config.py): two PPO iterations of
one 240-minute district, an evaluation on the selection day after each.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from patrolmarl.training.config import load_train_config
from patrolmarl.training.seed_summary import evaluation_curve
from tests.helpers import REPO, run_cli
from tests.training.helpers import write_sweep

pytestmark = pytest.mark.slow  # trains, or runs Ray, for seconds per test

pytest.importorskip("ray.tune")


def _rows(sweep_dir):
    return json.loads((sweep_dir / "trials.json").read_text())


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Two TPE trials with ASHA through the CLI: (sweep_dir, exit, out, err)."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(folder, search="tpe", asha={"grace_period": 1, "reduction_factor": 2})
    sweep_dir = folder / "out"
    code, out, err = run_cli("sweep", "--config", path, "--out", sweep_dir)
    return sweep_dir, code, out, err


def test_sweep_writes_trial_run_folders_and_a_table(swept):
    sweep_dir, code, out, err = swept
    assert code == 0, err
    assert "Traceback" not in err
    rows = _rows(sweep_dir)
    assert len(rows) == 2
    with open(sweep_dir / "trials.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["trial"] for r in table] == [r["trial"] for r in rows]
    assert {r["status"] for r in rows} <= {"finished", "stopped early"}
    assert any(r["status"] == "finished" for r in rows)
    for row in rows:
        assert row["trial"] in out  # the printed table
        run_dir = sweep_dir / row["run_dir"]
        assert json.loads((run_dir / "seeds.json").read_text()) == [0]
        seed_config = yaml.safe_load((run_dir / "seed_0" / "config.yaml").read_text())
        assert seed_config["ppo"]["learning_rate"] == row["ppo.learning_rate"]
        assert 1e-4 <= row["ppo.learning_rate"] <= 1e-2
        assert seed_config["reward"]["theft"] == row["reward.theft"] in (30, 90)
        assert row["evaluations"] >= 1
        if row["status"] == "finished":
            # The value is the last evaluation on the selection days, not the shaped reward.
            curve = evaluation_curve(run_dir / "seed_0", "response_mean")
            assert len(curve) == row["evaluations"] == 2
            assert row["value"] == pytest.approx(curve[-1][1], rel=1e-6)
            for name in ("best.zip", "final.zip", "final.json", "report/report.html"):
                assert (run_dir / "seed_0" / name).is_file(), name
            assert row["held_out_response_mean"] > 0
    assert (sweep_dir / "metric.png").read_bytes()[:4] == b"\x89PNG"


def test_best_config_is_a_training_config_of_the_best_trial(swept):
    sweep_dir, code, _, err = swept
    assert code == 0, err
    rows = _rows(sweep_dir)
    finished = [r for r in rows if r["status"] == "finished"]
    best = min(finished, key=lambda r: r["value"])
    config = load_train_config(sweep_dir / "best_config.yaml")
    assert config.ppo.learning_rate == best["ppo.learning_rate"]
    assert config.reward.theft == best["reward.theft"]
    assert config.total_timesteps == 896 and config.ppo.n_steps == 32  # the base's
    assert best["trial"] in (sweep_dir / "best_config.yaml").read_text().splitlines()[0]


def test_resume_after_killing_the_driver(tmp_path):
    """SIGKILL the driver once the first of two trials (one at a time) has finished;
    --resume trains only the other."""
    path = write_sweep(
        tmp_path,
        search="grid",
        trials=None,
        resources={"num_cpus": 1},
        space={"reward.theft": {"choice": [30, 90]}},
    )
    sweep_dir = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "patrolmarl.cli", "sweep", "--config", str(path)]
    driver = subprocess.Popen(
        [*command, "--out", str(sweep_dir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: Ray's helpers with it
    )
    finals = []
    try:
        deadline = time.monotonic() + 300
        while not finals and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
            finals = list(sweep_dir.glob("trials/*/seed_0/final.json"))
        assert finals, "no trial finished in time"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # Ray helpers the dead driver left behind
        except ProcessLookupError:
            pass
    done = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finals}
    assert len(done) == 1 and not (sweep_dir / "trials.json").exists()

    code, out, err = run_cli("sweep", "--resume", sweep_dir)
    assert code == 0, err
    rows = _rows(sweep_dir)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"finished"}
    assert sorted(r["reward.theft"] for r in rows) == [30, 90]  # the grid
    for final, (mtime, data) in done.items():  # finished trials were not trained again
        assert (final.stat().st_mtime_ns, final.read_bytes()) == (mtime, data)
        log = (final.parent.parent / "train.log").read_text()
        assert log.count("final evaluation") == 1, log
    assert load_train_config(sweep_dir / "best_config.yaml").reward.theft in (30, 90)
