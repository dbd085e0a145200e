"""How low any patrol policy could push theft: a certified lower bound against fixed_zone.

The bound itself (the deterrence cap, the hourly convex relaxations and their
Frank-Wolfe certificates) is :func:`patrolmarl.evaluation.limits.theft_bound`.
This script sets it beside fixed_zone's expected thefts (the simulator's own
forecast, summed over its steps) and realised thefts on the same days, to show
how much room is left.

    python benchmarks/theft_bound.py [--district gaoxin] [--days 30] [--seed 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from patrolmarl.agents.baselines import FixedZonePolicy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.reward import ShapedReward
from patrolmarl.envs.sim_view import SimView
from patrolmarl.evaluation.evaluate import summarise
from patrolmarl.evaluation.limits import presence_cap, theft_bound
from patrolmarl.evaluation.runner import day_seeds

TARGET = 0.15  # the goal: thefts per day at least 15 % below fixed_zone
HOT_CELLS = 20


def fixed_zone_expected(
    district: District, seed: int, days: int
) -> tuple[float, float, np.ndarray]:
    """fixed_zone on the evaluation days: expected thefts/day (summed step forecasts),
    realised thefts/day of the same run, and its ``(C,)`` mean presence field."""
    sim = BatchedSim(district, batch_size=days)
    policy = FixedZonePolicy(seed)
    policy.bind(SimView(sim))
    sim.reset(seeds=day_seeds(seed, days))
    policy.reset(np.ones(days, dtype=bool))
    reward = ShapedReward(sim)
    expected = np.zeros(days)
    presence = np.zeros(district.n_cells)
    while not sim.done.any():
        expected += reward.expected_thefts()  # the step [t, t + step) given presence at t
        presence += sim.presence.mean(axis=0)
        sim.step(policy.act(None, sim.action_masks()))
    replay = summarise("fixed_zone", [sim.record(b) for b in range(days)], sim.incidents)
    return float(expected.mean()), replay.summary["thefts_per_day"], presence / sim.n_steps


def _cells_holding(presence: np.ndarray, share: float) -> int:
    """How many of the fullest cells hold ``share`` of the total presence."""
    cumulative = np.cumsum(np.sort(presence)[::-1])
    return int(np.searchsorted(cumulative, share * cumulative[-1]) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=10000)
    args = parser.parse_args()
    started = time.perf_counter()
    district = District.load(args.district)
    incidents = IncidentModel(district)
    params = district.config.deterrence
    theta = incidents.rate_per_minute[:, incidents.deterrable, :].sum(axis=1)  # (24, C)
    cap = presence_cap(district)
    limit = theft_bound(district, incidents)
    minutes, hours = limit.minutes, limit.hours
    undeterred, bound = limit.undeterred_per_day, limit.per_day
    best, worst_gap = limit.relaxation_per_day, limit.worst_relative_gap
    best_presence = sum(minutes[h] * hb.presence for h, hb in hours.items()) / minutes.sum()
    hot = np.argsort(theta.sum(axis=0))[::-1][:HOT_CELLS]

    fz_expected, fz_realised, fz_presence = fixed_zone_expected(district, args.seed, args.days)

    reduction = 1.0 - bound / fz_expected
    print(f"district {district.name}: {district.n_units} units, presence cap {cap:.1f} patrol-min")
    print(f"undeterred expected thefts/day           {undeterred:.3f}")
    print(
        f"floor with infinite presence             {(1 - params.max_reduction) * undeterred:.3f}"
        f"  (1 - max_reduction {params.max_reduction:g})"
    )
    print(
        f"fixed_zone expected thefts/day           {fz_expected:.3f}"
        f"  ({1 - fz_expected / undeterred:.1%} below undeterred)"
    )
    print(
        f"fixed_zone realised thefts/day           {fz_realised:.3f}"
        f"  ({args.days} days, seed {args.seed})"
    )
    print(
        f"lower bound, any policy (certified)      {bound:.3f}"
        f"  (relaxation optimum {best:.3f}, worst hourly FW gap {worst_gap:.1e})"
    )
    print(f"best possible reduction vs fixed_zone    {reduction:.1%}")
    verdict = "reachable in principle" if reduction >= TARGET else "NOT reachable"
    print(f"target {TARGET:.0%} below fixed_zone: {verdict}")
    print(
        f"presence on the {HOT_CELLS} hottest theft cells: bound optimum "
        f"{best_presence[hot].sum() / cap:.1%} of the cap "
        f"({_cells_holding(best_presence, 0.9)} cells hold 90 %); fixed_zone "
        f"{fz_presence[hot].sum() / cap:.1%} of the cap (its total "
        f"{fz_presence.sum() / cap:.1%})"
    )
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
