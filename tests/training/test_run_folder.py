"""Run folders that never break: refused kinds and places, the lock, taking back a failed run.

Everything here is refused or fails before any training, except one tiny run
into the debris of a run killed during its first checkpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from patrolmarl.training import run_folder
from tests.helpers import assert_one_line_error, run_cli
from tests.training.helpers import tiny_config, write_config


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (relative path -> bytes, None for folders)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, tiny_config(tmp_path))


def train(config: Path, run_dir: Path, *more) -> tuple[int, str, str]:
    return run_cli("train", "--config", config, "--run-dir", run_dir, "--no-progress", *more)


# ------------------------------------------------------------------ folders of another kind
OTHER_KINDS = {
    "report": ["metrics.json", "report.md", "report.html", "response.png"],
    "beats": ["plan.yaml", "beats.geojson", "schedule.csv", "judgement.md"],
    "export": ["policy.onnx", "policy.json"],
    "other": ["notes.txt"],
    "config.yaml among other files": ["config.yaml", "notes.txt"],
}


@pytest.mark.parametrize("kind", sorted(OTHER_KINDS))
def test_folder_of_another_kind_is_refused(tmp_path, config, kind):
    run_dir = tmp_path / kind.replace(" ", "_")
    run_dir.mkdir()
    for name in OTHER_KINDS[kind]:
        (run_dir / name).write_text("theirs")
    before = snapshot(run_dir)
    code, out, err = train(config, run_dir)
    line = assert_one_line_error(code, out, err, f"--run-dir: {run_dir.absolute()}")
    assert line.endswith("is not empty and not an earlier run folder; not replacing it")
    assert snapshot(run_dir) == before


def test_regular_file_as_run_folder_is_refused(tmp_path, config):
    target = tmp_path / "file"
    target.write_text("mine")
    code, out, err = train(config, target)
    assert_one_line_error(code, out, err, str(target), "exists and is not a folder")
    assert target.read_text() == "mine"


def test_is_run_folder():
    assert run_folder.is_run_folder({"config.yaml", "tb", "checkpoints", ".lock", "seed_3"})
    assert run_folder.is_run_folder({".lock", ".config.yaml.tmp"})  # killed while starting
    assert not run_folder.is_run_folder({"tb", "checkpoints"})  # no sign of a run
    assert not run_folder.is_run_folder({"config.yaml", "metrics.json"})
    assert not run_folder.is_run_folder({"config.yaml", "seed_x"})


# ------------------------------------------------------------------ places that cannot be written
def test_run_folder_under_a_regular_file(tmp_path, config):
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    run_dir = blocker / "sub" / "run"
    code, out, err = train(config, run_dir)
    assert_one_line_error(code, out, err, f"--run-dir: {run_dir}", f"{blocker} is not a folder")


def test_run_folder_name_too_long(tmp_path, config):
    before = sorted(tmp_path.iterdir())
    code, out, err = train(config, tmp_path / ("r" * 300))
    assert_one_line_error(code, out, err, "--run-dir", "a name of 300 bytes is too long")
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o555")
def test_read_only_parent(tmp_path, config):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, out, err = train(config, parent / "run")
        assert_one_line_error(code, out, err, "--run-dir", "cannot write in", "permission denied")
        assert not (parent / "run").exists()
    finally:
        parent.chmod(0o755)


# ------------------------------------------------------------------ the lock
def test_second_training_into_a_locked_folder(tmp_path, config):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / ".lock", "w") as holder:  # what a running training holds
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.write("4242\n")
        holder.flush()
        before = snapshot(run_dir)
        code, out, err = train(config, run_dir)
        line = assert_one_line_error(code, out, err)
        assert line == f"patrolmarl: error: {run_dir} is in use by another training (pid 4242)"
        assert snapshot(run_dir) == before


def test_lock_is_released_and_names_its_holder(tmp_path):
    run_dir = tmp_path / "run"
    with run_folder.claimed(run_dir):
        assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(Exception, match=r"in use by another training \(pid \d+\)"):
            with run_folder.claimed(run_dir):
                pass
    with run_folder.claimed(run_dir):  # released at the end of the block
        pass


# ------------------------------------------------ a failed run takes back its folder
class SetupCrash(RuntimeError):
    pass


def crash(*args, **kwargs):
    raise SetupCrash("boom")


def test_failed_run_removes_the_folder_it_created(tmp_path, config, monkeypatch):
    from patrolmarl.training import train as train_module

    monkeypatch.setattr(train_module, "_train_and_report", crash)
    run_dir = tmp_path / "new" / "run"
    with pytest.raises(SetupCrash):
        train(config, run_dir)
    assert not (tmp_path / "new").exists()


def test_failed_run_leaves_an_existing_folder_as_it_was(tmp_path, config, monkeypatch):
    from patrolmarl.training import train as train_module

    monkeypatch.setattr(train_module, "_fresh_model", crash)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(SetupCrash):
        train(config, run_dir)
    assert list(run_dir.iterdir()) == []


def test_setup_error_writes_nothing(tmp_path):
    """A batch size that does not fit the district's rollout is found before the folder exists."""
    changes = {"ppo": {"n_steps": 32, "batch_size": 60}}
    config = write_config(tmp_path, tiny_config(tmp_path) | changes)
    code, out, err = train(config, tmp_path / "run")
    assert_one_line_error(code, out, err, str(config), "ppo.batch_size")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------ debris of a killed first checkpoint
def test_fresh_start_over_a_run_killed_in_its_first_checkpoint(tmp_path, config):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / ".tmp-abc").mkdir(parents=True)
    (run_dir / "checkpoints" / ".tmp-abc" / "model.zip").write_bytes(b"PK\x03\x04 half")
    (run_dir / "tb" / "ppo_1").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("algorithm: ppo\n")
    (run_dir / ".config.yaml.tmp").write_text("algori")
    (run_dir / ".lock").write_text("999\n")
    code, out, err = train(config, run_dir, "--timesteps", "448")
    assert code == 0, err
    assert out.splitlines()[-1] == f"report: {run_dir / 'report' / 'report.html'}"
    assert not (run_dir / ".config.yaml.tmp").exists()
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))
    assert [p.name for p in (run_dir / "tb").iterdir()] == ["ppo_1"]  # the new run's, not a 2nd
    assert run_folder.is_run_folder({p.name for p in run_dir.iterdir()})
    record = json.loads((run_dir / "district.json").read_text())
    from patrolmarl.envs.district import District

    district = District.load(tmp_path / "district.yaml")
    assert record == {"district": district.name, "district_config_sha256": district.config_sha256}
