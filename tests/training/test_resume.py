"""Checkpoints survive SIGKILL; resume continues the step count, tensorboard run and RNGs.

One training process is killed with SIGKILL after its first checkpoints (module
fixture); each test resumes a copy of that run folder in-process.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from tests.helpers import REPO, assert_one_line_error, run_cli
from tests.training.helpers import scalars, tiny_config, write_config

pytestmark = pytest.mark.slow  # trains, or runs Ray, for seconds per test

ROLLOUT = 32 * 14  # n_steps x agent slots: agent-steps per PPO iteration
EXTRA = 2 * ROLLOUT  # resumes train this many agent-steps beyond the checkpoint


def write_long_config(folder: Path) -> Path:
    """Minutes of training if left alone; a checkpoint every PPO iteration."""
    config = tiny_config(
        folder,
        "maskable_ppo",
        total_timesteps=5_000_000,
        checkpoint_freq=ROLLOUT,
        eval={"freq": 1_000_000, "days": 1, "final_days": 1, "final_baselines": ["nearest"]},
    )
    return write_config(folder, config, "long.yaml")


def latest(run_dir: Path) -> tuple[Path, dict]:
    """The folder ``checkpoints/latest`` names and its state.json."""
    name = (run_dir / "checkpoints" / "latest").read_text().strip()
    folder = run_dir / "checkpoints" / name
    return folder, json.loads((folder / "state.json").read_text())


def assert_complete_checkpoint(folder: Path) -> dict:
    """All four files present and loadable; returns state.json."""
    from sb3_contrib import MaskablePPO

    state = json.loads((folder / "state.json").read_text())
    assert state["num_timesteps"] > 0
    # step_<N>, or step_<N>_<k> for a later save at the same step
    assert folder.name.split("_")[1] == str(state["num_timesteps"])
    model = MaskablePPO.load(folder / "model.zip", device="cpu")
    assert model.num_timesteps == state["num_timesteps"]
    with open(folder / "vecnormalize.pkl", "rb") as f:
        stats = pickle.load(f)
    assert stats.obs_rms.count > 1
    rng = torch.load(folder / "rng.pt", weights_only=False)
    assert {"torch", "numpy_global", "python", "extra"} <= set(rng)
    assert "env" in rng["extra"]
    return state


def tb_steps(run_dir: Path, tag: str = "time/fps") -> tuple[list[Path], dict[str, list[int]]]:
    """The tensorboard run folders, and the steps of ``tag`` in each event file of the first."""
    runs = sorted(p for p in (run_dir / "tb").iterdir() if p.is_dir())
    per_file = {}
    for path in runs[0].glob("events.out.tfevents.*"):
        per_file[path.name] = [
            event.step
            for event in EventFileLoader(str(path)).Load()
            if any(v.tag == tag for v in event.summary.value)
        ]
    return runs, per_file


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> tuple[Path, dict]:
    """A run folder whose training process was SIGKILLed after its first checkpoints."""
    folder = tmp_path_factory.mktemp("killed")
    run_dir = folder / "run"
    config = write_long_config(folder)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "patrolmarl", "train", "--config", str(config)]
            + ["--run-dir", str(run_dir), "--no-progress"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 120
            while not (run_dir / "checkpoints" / "latest").exists():
                assert proc.poll() is None, (folder / "stderr.txt").read_text()
                assert time.monotonic() < deadline, "no checkpoint within 120 s"
                time.sleep(0.1)
            # A second training into the same folder meanwhile: refused by the lock.
            second = run_cli("train", "--resume", run_dir, "--no-progress")
            time.sleep(1.0)  # a few more iterations: the kill may land mid-save
            assert proc.poll() is None, "training ended before it was killed"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "final.json").exists()
    checkpoint, state = latest(run_dir)
    assert_complete_checkpoint(checkpoint)
    line = assert_one_line_error(*second)
    assert line == f"patrolmarl: error: {run_dir} is in use by another training (pid {proc.pid})"
    return run_dir, state


def copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    return dest


def test_checkpoint_after_sigkill_is_complete(killed_run):
    run_dir, state = killed_run
    assert state["num_timesteps"] % ROLLOUT == 0
    assert state["config"]["total_timesteps"] == 5_000_000
    folders = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("step_")]
    assert 1 <= len(folders) <= 3  # KEEP_LAST plus possibly one not yet pruned


def add_crash_debris(run_dir: Path) -> tuple[Path, Path]:
    """A stale temp folder (a save killed midway) and a stray step folder `latest` does not name."""
    root = run_dir / "checkpoints"
    stale = root / ".tmp-crashed"
    stale.mkdir()
    (stale / "model.zip").write_bytes(b"PK\x03\x04 truncated")
    stray = root / "step_999999"
    stray.mkdir()
    (stray / "model.zip").write_bytes(b"not a zip")
    (stray / "state.json").write_text("{broken")
    (root / "step_backup").mkdir()  # not a step number: left alone, no crash
    return stale, stray


def add_interrupted_writes(run_dir: Path) -> list[Path]:
    """Hidden temporaries of writes killed midway: the final report, best.zip, config.yaml."""
    report = run_dir / ".report.k3j2.tmp"
    report.mkdir()
    (report / "metrics.json").write_text("{")
    temps = [report, run_dir / ".best.tmp.zip", run_dir / ".config.yaml.tmp"]
    for path in temps[1:]:
        path.write_bytes(b"half")
    return temps


def log_after_checkpoint(run_dir: Path, step: int) -> None:
    """What the killed session logged after its checkpoint (steps that resume trains again)."""
    from torch.utils.tensorboard import SummaryWriter

    (tb_run,) = [p for p in (run_dir / "tb").iterdir() if p.is_dir()]
    writer = SummaryWriter(log_dir=str(tb_run))
    writer.add_scalar("time/fps", -1.0, step + ROLLOUT)
    writer.close()


def test_resume_after_sigkill(killed_run, tmp_path):
    run_dir = copy_run(killed_run[0], tmp_path / "run")
    step = killed_run[1]["num_timesteps"]
    # Atomicity: debris of a crash mid-save must not matter (nor be picked up).
    stale, stray = add_crash_debris(run_dir)
    temps = add_interrupted_writes(run_dir)
    log_after_checkpoint(run_dir, step)
    _, before = tb_steps(run_dir)
    target = step + EXTRA
    code, out, err = run_cli("train", "--resume", run_dir, "--timesteps", target, "--no-progress")
    assert code == 0, err
    assert f"resuming {run_dir} at step {step:,}" in out
    for path in temps:
        assert not path.exists(), path
        assert f"removed {path.name}, left by an interrupted write" in out
    folder, state = latest(run_dir)
    assert folder.name != stray.name
    assert_complete_checkpoint(folder)
    assert state["num_timesteps"] >= target and state["num_timesteps"] > step
    assert state["config"]["total_timesteps"] == target
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["total_timesteps"] == target
    assert not stale.exists()  # stale temps are cleaned up at the next save
    assert (run_dir / "checkpoints" / "step_backup").is_dir()
    for name in ("best.zip", "final.zip", "final.json", "report/metrics.json"):
        assert (run_dir / name).is_file(), name

    runs, after = tb_steps(run_dir)
    assert len(runs) == 1, runs  # the same tensorboard run, continued
    new_files = set(after) - set(before)
    assert len(new_files) == 1, after  # one new event file for the resumed session
    # The old files keep what was logged up to the checkpoint, and only that.
    assert all(after[name] == [s for s in steps if s <= step] for name, steps in before.items())
    assert any(s > step for steps in before.values() for s in steps)  # the injected one went
    resumed = after[new_files.pop()]
    assert resumed, "no time/fps logged after resuming"
    assert min(resumed) > step  # continues past the checkpoint, no restart at 0
    assert max(resumed) >= target
    # TensorBoard shows each step once: the re-run steps replace what the killed session
    # logged after its checkpoint.
    all_steps = [s for steps in after.values() for s in steps]
    assert len(set(all_steps)) == len(all_steps), after
    fps = scalars(runs[0])["time/fps"]
    assert dict(fps)[step + ROLLOUT] > 0  # the resumed session's, not the injected -1


def final_parameters(run_dir: Path) -> dict[str, torch.Tensor]:
    from sb3_contrib import MaskablePPO

    return MaskablePPO.load(run_dir / "final.zip", device="cpu").policy.state_dict()


def test_resume_is_deterministic(killed_run, tmp_path):
    step = killed_run[1]["num_timesteps"]
    runs = [copy_run(killed_run[0], tmp_path / name) for name in ("a", "b")]
    for run_dir in runs:
        code, _, err = run_cli(
            "train", "--resume", run_dir, "--timesteps", step + EXTRA, "--no-progress"
        )
        assert code == 0, err
    states = [latest(r)[1] for r in runs]
    assert states[0]["num_timesteps"] == states[1]["num_timesteps"] > step
    a, b = (final_parameters(r) for r in runs)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    with open(runs[0] / "final_vecnormalize.pkl", "rb") as f:
        norm_a = pickle.load(f)
    with open(runs[1] / "final_vecnormalize.pkl", "rb") as f:
        norm_b = pickle.load(f)
    assert (norm_a.obs_rms.mean == norm_b.obs_rms.mean).all()
    assert norm_a.ret_rms.var == norm_b.ret_rms.var
    # And it did train: the parameters moved away from the checkpoint's.
    from sb3_contrib import MaskablePPO

    start = MaskablePPO.load(
        killed_run[0] / "checkpoints" / f"step_{step}" / "model.zip", device="cpu"
    ).policy.state_dict()
    assert any(not torch.equal(start[n], a[n]) for n in a)


# ------------------------------------------------------------------ damaged checkpoints
def garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage\xff" * 10)


DAMAGE = {
    "model.zip garbage": ("model.zip", garbage, "is damaged or not a maskable_ppo model"),
    "model.zip missing": ("model.zip", Path.unlink, "is missing"),
    "rng.pt garbage": ("rng.pt", garbage, "is damaged"),
    "rng.pt missing": ("rng.pt", Path.unlink, "is missing"),
    "vecnormalize.pkl garbage": ("vecnormalize.pkl", garbage, "is damaged"),
    "state.json a list": (
        "state.json",
        lambda p: p.write_text("[1, 2]"),
        "is damaged (a JSON list",
    ),
    "state.json garbage": ("state.json", lambda p: p.write_text("{broken"), "is damaged"),
}


def step_folders(run_dir: Path) -> list[Path]:
    return [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("step_")]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_resume_refuses_when_no_checkpoint_is_intact(killed_run, tmp_path, kind):
    run_dir = copy_run(killed_run[0], tmp_path / "run")
    name, damage, problem = DAMAGE[kind]
    for folder in step_folders(run_dir):
        damage(folder / name)
    latest_folder = run_dir / "checkpoints" / (run_dir / "checkpoints" / "latest").read_text()
    code, out, err = run_cli("train", "--resume", run_dir, "--no-progress")
    line = assert_one_line_error(code, out, err, f"--resume: no intact checkpoint in {run_dir}")
    assert f"{latest_folder / name} {problem}" in line
    assert f"checkpoint {latest_folder.name}: {latest_folder / name}" in out
    assert not (run_dir / "final.json").exists()


def test_resume_falls_back_to_the_newest_intact_checkpoint(killed_run, tmp_path):
    run_dir = copy_run(killed_run[0], tmp_path / "run")
    intact, state = latest(run_dir)
    for other in step_folders(run_dir):  # e.g. a newer one the kill left unnamed
        if other != intact:
            shutil.rmtree(other)
    # A later save at the same step (step_<N>_1) that is damaged, and named latest.
    damaged = intact.with_name(intact.name + "_1")
    shutil.copytree(intact, damaged)
    garbage(damaged / "model.zip")
    (run_dir / "checkpoints" / "latest").write_text(damaged.name)
    step = state["num_timesteps"]
    code, out, err = run_cli(
        "train", "--resume", run_dir, "--timesteps", step + ROLLOUT, "--no-progress"
    )
    assert code == 0, err
    assert f"checkpoint {damaged.name}: {damaged / 'model.zip'} is damaged" in out
    assert f"resuming from {intact.name}, the newest intact checkpoint" in out, out
    assert f"resuming {run_dir} at step {step:,}" in out
    assert latest(run_dir)[1]["num_timesteps"] == step + ROLLOUT


def test_resume_on_a_changed_district_is_refused(killed_run, tmp_path):
    run_dir = copy_run(killed_run[0], tmp_path / "run")
    record = json.loads((run_dir / "district.json").read_text())
    assert len(record["district_config_sha256"]) == 64
    (run_dir / "district.json").write_text(
        json.dumps(record | {"district_config_sha256": "ab" * 32})
    )
    code, out, err = run_cli("train", "--resume", run_dir, "--no-progress")
    assert_one_line_error(
        code, out, err, f"--resume: {run_dir / 'district.json'}", "another version of district"
    )


def test_resume_without_config_yaml_uses_the_checkpoints_config(killed_run, tmp_path):
    """Also a resume with nothing left to train and no best.zip yet: it evaluates once."""
    run_dir = copy_run(killed_run[0], tmp_path / "run")
    step = killed_run[1]["num_timesteps"]
    (run_dir / "config.yaml").unlink()
    assert not (run_dir / "best.zip").exists()
    checkpoint = latest(run_dir)[0].name
    code, out, err = run_cli("train", "--resume", run_dir, "--timesteps", step, "--no-progress")
    assert code == 0, err
    assert f"config.yaml: file not found; using the config saved in {checkpoint}" in out
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["total_timesteps"] == step and saved["algorithm"] == "maskable_ppo"
    assert (run_dir / "best.zip").is_file() and (run_dir / "final.json").is_file()


@pytest.mark.parametrize("entry", ["final.json", "config.yaml", "checkpoints/latest"])
def test_resume_refuses_an_entry_of_the_wrong_kind(killed_run, tmp_path, entry):
    run_dir = copy_run(killed_run[0], tmp_path / "run")
    path = run_dir / entry
    path.unlink(missing_ok=True)
    path.mkdir()
    code, out, err = run_cli("train", "--resume", run_dir, "--no-progress")
    assert_one_line_error(code, out, err, str(path))
    assert path.is_dir() and not (run_dir / "report").exists()
