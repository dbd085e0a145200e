"""Checkpoints written atomically: model (with optimizer), VecNormalize, RNG states, progress.

A checkpoint is a folder ``checkpoints/step_<N>/`` holding ``model.zip`` (SB3
saves the optimizer state inside), ``vecnormalize.pkl``, ``rng.pt`` (torch and
numpy generator states) and ``state.json`` (step count, config, best score so
far). It is written under a temporary name and renamed into place; the file
``checkpoints/latest`` then names it, replaced atomically. A crash at any point
leaves the previous checkpoint as the latest good one. On resume, a checkpoint
whose files are missing or damaged is skipped for the newest intact one
(:func:`checkpoint_folders` gives the order, :class:`DamagedCheckpoint` names the file).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from patrolmarl.errors import PatrolMarlError
from patrolmarl.training.run_folder import write_text_atomically

KEEP_LAST = 2


class DamagedCheckpoint(PatrolMarlError):
    """A checkpoint file that is missing or cannot be read; the message names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} {problem}")
        self.path = path


@dataclass
class Checkpoint:
    """A checkpoint's folder and its validated ``state.json``."""

    folder: Path
    state: dict[str, Any]

    @property
    def model_path(self) -> Path:
        """The SB3 model file."""
        return self.folder / "model.zip"

    @property
    def vecnormalize_path(self) -> Path:
        """The pickled VecNormalize statistics (may not exist)."""
        return self.folder / "vecnormalize.pkl"

    @property
    def num_timesteps(self) -> int:
        """The step count at which the checkpoint was written."""
        return self.state["num_timesteps"]

    def restore_rng(self) -> dict[str, Any]:
        """Restore the global RNGs (torch, numpy, random); returns the extra saved states.

        Call it after loading the model: SB3's load reseeds the global RNGs.

        Raises
        ------
        DamagedCheckpoint
            If ``rng.pt`` is missing or does not hold the saved states.
        """
        path = self.folder / "rng.pt"
        if not path.is_file():
            raise DamagedCheckpoint(path, "is missing")
        try:
            saved = torch.load(path, weights_only=False)
            torch.set_rng_state(saved["torch"])
            np.random.set_state(saved["numpy_global"])
            random.setstate(saved["python"])
            extra = saved["extra"]
        except Exception as exc:  # any garbage: unpickling can raise nearly anything
            raise DamagedCheckpoint(path, f"is damaged ({exc.__class__.__name__})") from None
        if not isinstance(extra, dict):
            raise DamagedCheckpoint(path, "is damaged (no generator states)")
        return extra


def save_checkpoint(
    run_dir: Path, model, vecnormalize, state: dict[str, Any], extra_rng_states: dict[str, Any]
) -> Path:
    """Write a checkpoint of ``model`` at ``model.num_timesteps``; returns its folder.

    ``extra_rng_states`` holds generator states beyond the global ones (the env's).
    """
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{model.num_timesteps}"
    repeat = 1
    while final.exists():  # a second save at the same step never touches the first
        final = root / f"step_{model.num_timesteps}_{repeat}"
        repeat += 1
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        model.save(tmp / "model.zip")
        if vecnormalize is not None:
            with open(tmp / "vecnormalize.pkl", "wb") as f:
                pickle.dump(vecnormalize, f)
        rng = {
            "torch": torch.get_rng_state(),
            "numpy_global": np.random.get_state(),
            "python": random.getstate(),
            "extra": extra_rng_states,
        }
        torch.save(rng, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        for f in tmp.iterdir():
            _fsync(f)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_text_atomically(root / "latest", final.name)
    _prune(root, keep=final.name)
    return final


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """The run's checkpoint folders to try on resume, best first.

    The folder ``checkpoints/latest`` names comes first (if it names one), then
    the other ``step_<N>`` folders, newest first.
    """
    root = run_dir / "checkpoints"
    try:
        steps = [p for p in root.iterdir() if _step_key(p.name) is not None and p.is_dir()]
    except OSError:
        return []
    steps.sort(key=lambda p: _step_key(p.name), reverse=True)
    try:
        named = (root / "latest").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        named = ""
    first = [p for p in steps if p.name == named]
    return first + [p for p in steps if p.name != named]


def read_checkpoint(folder: Path) -> Checkpoint:
    """The checkpoint in ``folder`` with its ``state.json``.

    Raises
    ------
    DamagedCheckpoint
        If ``state.json`` is missing, not JSON, or not an object with a step count.
    """
    path = folder / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedCheckpoint(path, "is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedCheckpoint(path, f"is damaged ({exc.__class__.__name__})") from None
    if not isinstance(state, dict):
        raise DamagedCheckpoint(path, f"is damaged (a JSON {type(state).__name__}, not an object)")
    steps = state.get("num_timesteps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise DamagedCheckpoint(path, "is damaged (no whole num_timesteps)")
    best = state.get("best_score", float("inf"))
    if isinstance(best, bool) or not isinstance(best, int | float):
        raise DamagedCheckpoint(path, "is damaged (best_score is not a number)")
    return Checkpoint(folder=folder, state=state)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _step_key(name: str) -> tuple[int, int] | None:
    """(step, repeat) of a ``step_<N>`` or ``step_<N>_<k>`` folder name; None otherwise."""
    parts = name.split("_")[1:]
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]) if len(parts) == 2 else 0


def _prune(root: Path, keep: str) -> None:
    """Delete all but the newest ``KEEP_LAST`` checkpoints (never ``keep``) and stale temps."""
    steps = sorted(
        (p for p in root.glob("step_*") if p.is_dir() and _step_key(p.name) is not None),
        key=lambda p: _step_key(p.name),
    )
    for old in steps[:-KEEP_LAST]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
