"""Checkpoints written atomically: model (with optimizer), VecNormalize, RNG states, progress.

A checkpoint is a folder ``checkpoints/step_<N>/`` holding ``model.zip`` (SB3
saves the optimizer state inside), ``vecnormalize.pkl``, ``rng.pt`` (torch and
numpy generator states) and ``state.json`` (step count, config, best score so
far). It is written under a temporary name and renamed into place; the file
``checkpoints/latest`` then names it, replaced atomically. A crash at any point
leaves the previous checkpoint as the latest good one.
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

KEEP_LAST = 2


@dataclass
class Checkpoint:
    """A loaded checkpoint's paths and state."""

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

    def restore_rng(self) -> dict[str, Any]:
        """Restore the global RNGs (torch, numpy, random); returns the extra saved states.

        Call it after loading the model: SB3's load reseeds the global RNGs.
        """
        saved = torch.load(self.folder / "rng.pt", weights_only=False)
        torch.set_rng_state(saved["torch"])
        np.random.set_state(saved["numpy_global"])
        random.setstate(saved["python"])
        return saved["extra"]


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
    _write_atomically(root / "latest", final.name)
    _prune(root, keep=final.name)
    return final


def load_latest_checkpoint(run_dir: Path) -> Checkpoint:
    """The latest good checkpoint of a run; :class:`PatrolMarlError` if there is none."""
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        raise PatrolMarlError(f"--resume: {run_dir} has no checkpoint to resume from")
    folder = run_dir / "checkpoints" / pointer.read_text().strip()
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise PatrolMarlError(f"--resume: checkpoint {folder} is unreadable") from None
    return Checkpoint(folder=folder, state=state)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    _fsync(tmp)
    os.replace(tmp, path)


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
