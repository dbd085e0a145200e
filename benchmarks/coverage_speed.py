"""How long the coverage baseline and the move gains take, beside the nearest baseline.

Times 30 days (one batch) of ``nearest`` and of ``coverage`` on gaoxin with the
evaluation runner, then the move gains alone on that batch's states, and prints
seconds and the ratio coverage / nearest (the ratio is what to compare between
two versions run on the same machine, since the load of a shared machine moves
both). Run it against two trees in turn to compare them:

    PYTHONPATH=/path/to/tree python benchmarks/coverage_speed.py [--days 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.evaluation.runner import day_seeds, run_policy


def _policy_seconds(district: District, name: str, seeds: list[list[int]]) -> float:
    started = time.perf_counter()
    run_policy(district, BASELINES[name](seed=0), seeds)
    return time.perf_counter() - started


def _gains_seconds(district: District, seeds: list[list[int]], steps: int) -> float:
    """Seconds per :class:`MoveGains` call on a batch of days played by random moves."""
    sim = BatchedSim(district, batch_size=len(seeds), seed=0)
    sim.reset(seeds=seeds)
    gains = MoveGains(sim)
    rng = np.random.default_rng(0)
    spent = 0.0
    for _ in range(steps):
        started = time.perf_counter()
        gains()
        spent += time.perf_counter() - started
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
    return spent / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    district = District.load(args.district)
    seeds = day_seeds(0, args.days)
    print(f"load average {os.getloadavg()[0]:.1f}, {args.district}, {args.days} days batched")
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name in ("nearest", "coverage"):
            best[name] = min(best.get(name, np.inf), _policy_seconds(district, name, seeds))
    gains = _gains_seconds(district, seeds, steps=200)
    print(f"nearest  {best['nearest']:7.2f} s (best of {args.repeat})")
    print(f"coverage {best['coverage']:7.2f} s (best of {args.repeat})")
    print(f"coverage / nearest: {best['coverage'] / best['nearest']:.2f}")
    print(f"move gains (all 8 fields), per step of {args.days} districts: {gains * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
