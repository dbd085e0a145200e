"""Helpers shared by the tests: the CLI in-process, the one-line error check, a short busy gaoxin.

Imported as ``tests.helpers`` (the repository root is on pytest's path).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import yaml

from patrolmarl.cli import TRAINING_MODULES, main
from patrolmarl.envs.district import District

REPO = Path(__file__).resolve().parents[1]
GAOXIN_YAML = REPO / "configs" / "districts" / "gaoxin.yaml"

#: gaoxin with a 240-minute day and busy noise calls. The same overrides everywhere, so
#: that gaoxin's hourly p-medians (cached per config, ~10-30 s to solve) are solved once.
SHORT_BUSY = {"episode_minutes": 240, "call_types.noise.daily_rate": 300}


@functools.cache
def short_busy_gaoxin() -> District:
    """gaoxin with the :data:`SHORT_BUSY` overrides (one instance per test process)."""
    return District.load("gaoxin", **SHORT_BUSY)


def write_short_busy_gaoxin(folder: Path, name: str = "district.yaml") -> Path:
    """gaoxin with the :data:`SHORT_BUSY` overrides as a district file in ``folder``."""
    raw = yaml.safe_load(GAOXIN_YAML.read_text(encoding="utf-8"))
    raw["simulation"]["episode_minutes"] = SHORT_BUSY["episode_minutes"]
    raw["call_types"]["noise"]["daily_rate"] = SHORT_BUSY["call_types.noise.daily_rate"]
    return write_yaml(folder / name, raw)


def write_yaml(path: Path, data: object) -> Path:
    """``data`` as YAML in ``path`` (keys in their order); returns ``path``."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*argv: object) -> tuple[int, str, str]:
    """``patrolmarl.cli.main`` on ``argv`` (made strings): exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


# A fresh interpreter in which importing any module of the training extra fails, as on a
# base install; then the code given to run_without_training.
_BLOCK_TRAINING = f"""
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {sorted(TRAINING_MODULES)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""
#: Code for run_without_training: the patrolmarl command on the arguments.
CLI_CODE = "from patrolmarl.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run_without_training(
    code: str, *argv: object, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Python ``code`` on ``argv`` in a subprocess where the training extra's modules
    (torch, SB3, sb3-contrib, tensorboard, tqdm) cannot be imported."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", _BLOCK_TRAINING + code, *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def assert_one_line_error(code: int, out: str, err: str, *pieces: str) -> str:
    """Assert exit code 2 and exactly one ``patrolmarl: error:`` line on stderr holding
    every piece, no traceback anywhere; returns the line."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert lines[0].startswith("patrolmarl: error: "), err
    for piece in pieces:
        assert piece in lines[0], f"{piece!r} not in {lines[0]!r}"
    return lines[0]


def run_in_terminal(argv: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a pseudo-terminal; (exit code, output)."""
    controller, terminal = pty.openpty()
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    env.update(COLUMNS="100", LINES="30", TERM="xterm")
    proc = subprocess.Popen(
        argv, stdin=terminal, stdout=terminal, stderr=terminal, cwd=cwd, env=env
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 1 << 16)
            except OSError:  # EIO: every copy of the terminal is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    return code, b"".join(chunks).decode("utf-8", "replace")


# sha256 of the built-in district's validated config dump; a shipped model's card records it
# (changed on purpose by the per-precinct calibration of issue 16).
GAOXIN_CONFIG_SHA256 = "9362b768b074de01b741d7d9ad5ac299a84f64a0bfa11ef7f0d5799b7cd1da3b"
