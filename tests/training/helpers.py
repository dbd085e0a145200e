"""Helpers of the training tests: tiny training and sweep configs, tensorboard scalars.

Tiny runs: one district of 14 agent slots, a 240-minute day (the short busy
gaoxin of :mod:`tests.helpers`, so the p-median limit of the final report is
solved once per test process), 32-step rollouts and a 16-unit network.
"""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import SHORT_BUSY, write_short_busy_gaoxin, write_yaml

DAY_MINUTES = SHORT_BUSY["episode_minutes"]
AGENTS = 14  # patrol units of gaoxin: one agent slot each
# One day of one district is DAY_MINUTES * AGENTS = 3,360 agent-steps: 4,000 finish one.
TIMESTEPS = 4000


def tiny_config(folder: Path, algorithm: str = "ppo", **changes) -> dict:
    """A training config small enough for a test (a dict, see :func:`write_config`);
    its district file is written in ``folder``."""
    config = {
        "algorithm": algorithm,
        "district": str(write_short_busy_gaoxin(folder)),
        "n_districts": 1,
        "total_timesteps": TIMESTEPS,
        "seed": 0,
        "torch_threads": 1,
        "checkpoint_freq": 1500,
        "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
        "network": {"net_arch": [16]},
        "eval": {"freq": 1500, "days": 1, "final_days": 1, "final_baselines": ["nearest"]},
    }
    config.update(changes)
    return config


def write_config(folder: Path, config: dict, name: str = "tiny.yaml") -> Path:
    """``config`` as ``folder/name``."""
    return write_yaml(folder / name, config)


# Two PPO iterations of 448 agent-steps, an evaluation after each.
SWEEP_TIMESTEPS = 896


def tiny_base(folder: Path) -> dict:
    """The tiny training config of the train tests, evaluated once per PPO iteration."""
    config = tiny_config(folder, total_timesteps=SWEEP_TIMESTEPS, checkpoint_freq=448)
    config["eval"]["freq"] = 400
    return config


def write_sweep(folder: Path, **changes) -> Path:
    """``folder/sweep.yaml`` over ``folder/base.yaml``: two random trials of one seed."""
    write_config(folder, tiny_base(folder), "base.yaml")
    sweep = {
        "base": "base.yaml",
        "metric": "response_mean",
        "trials": 2,
        "seeds": [0],
        "search": "random",
        "asha": None,
        "space": {
            "ppo.learning_rate": {"log_uniform": [1e-4, 1e-2]},
            "reward.theft": {"choice": [30, 90]},
        },
    }
    sweep.update(changes)
    return write_yaml(folder / "sweep.yaml", sweep)


def scalars(tb_run: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of one tensorboard run folder: tag -> [(step, value)]."""
    acc = EventAccumulator(str(tb_run), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
