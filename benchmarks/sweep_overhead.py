"""Overhead of Ray Tune: N tiny sweep trials through ``run_sweep`` against the same trials
trained one after another in this process.

Both routes train the same N configs (a grid over ``reward.theft``, one seed
each) with the same code a trial runs (``train_seeds`` of one seed). The Ray
route is timed whole: starting local Ray, the trials, the table and plot, the
shutdown. By default it runs one trial at a time (``--concurrent 1``), so that
the difference is Ray's overhead, printed per trial; ``--concurrent 2`` shows
what the two cores of this machine gain instead.

Usage::

    python benchmarks/sweep_overhead.py [--trials 4] [--timesteps 896] [--concurrent 1]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def tiny_base(folder: Path, timesteps: int) -> Path:
    """gaoxin with a 240-minute day, one district, 32-step rollouts, an evaluation each
    400 agent-steps and a one-day final evaluation (the tests' tiny config)."""
    district = yaml.safe_load((REPO / "configs" / "districts" / "gaoxin.yaml").read_text())
    district["simulation"]["episode_minutes"] = 240
    (folder / "district.yaml").write_text(yaml.safe_dump(district, sort_keys=False))
    base = {
        "algorithm": "ppo",
        "district": str(folder / "district.yaml"),
        "n_districts": 1,
        "total_timesteps": timesteps,
        "checkpoint_freq": timesteps,
        "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
        "network": {"net_arch": [16]},
        "eval": {"freq": 400, "days": 1, "final_days": 1, "final_baselines": ["nearest"]},
    }
    path = folder / "base.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=896)
    parser.add_argument("--concurrent", type=int, default=1, help="Ray trials at a time")
    args = parser.parse_args()

    from patrolmarl.training.sweep import load_sweep, run_sweep
    from patrolmarl.training.train import train_seeds

    with tempfile.TemporaryDirectory(prefix="sweep_overhead_") as tmp:
        folder = Path(tmp)
        tiny_base(folder, args.timesteps)
        sweep_file = folder / "sweep.yaml"
        thefts = [30 + 10 * i for i in range(args.trials)]
        sweep_file.write_text(
            yaml.safe_dump(
                {
                    "base": "base.yaml",
                    "metric": "response_mean",
                    "search": "grid",
                    "asha": None,
                    "resources": {"num_cpus": args.concurrent, "cpus_per_trial": 1},
                    "space": {"reward.theft": {"choice": thefts}},
                }
            )
        )
        sweep = load_sweep(sweep_file)

        started = time.perf_counter()
        for theft in thefts:
            config = sweep.config_with({"reward.theft": theft})
            train_seeds(
                config, [0], folder / "sequential" / str(theft), say=lambda _: None, parallel=False
            )
        sequential = time.perf_counter() - started

        started = time.perf_counter()
        rows = run_sweep(sweep, folder / "ray", say=lambda _: None)
        through_ray = time.perf_counter() - started
        assert len(rows) == args.trials and all(r["status"] == "finished" for r in rows)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"ray {version('ray')}, optuna {version('optuna')}"
    )
    print(
        f"{args.trials} tiny trials of {args.timesteps:,} agent-steps "
        f"(1 seed each, final evaluation included)"
    )
    print(
        f"sequential in-process:             {sequential:7.1f} s "
        f"({sequential / args.trials:.1f} s a trial)"
    )
    print(f"through Ray Tune, {args.concurrent} at a time:       {through_ray:7.1f} s")
    print(f"ratio Ray / sequential:            {through_ray / sequential:7.2f}")
    print(
        f"Ray overhead per trial:            {(through_ray - sequential) / args.trials:7.1f} s"
        + ("" if args.concurrent == 1 else " (negative: the concurrent trials gain)")
    )


if __name__ == "__main__":
    main()
