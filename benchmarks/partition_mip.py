"""The partition heuristic beside the exact flow MIP (HiGHS) on gaoxin's time blocks.

Records where ``pmedian`` patrols on a few days, builds each block's
districting problem at its posts (as ``patrolmarl beats --method partition``
does), and prints per block: the heuristic's seconds, cost, bound and gap; then
HiGHS on the same problem within ``--mip-seconds``: its cost and gap to its own
dual bound, or that it found no feasible partition in time.

    python benchmarks/partition_mip.py [--days 3] [--blocks 4] [--mip-seconds 60]
"""

from __future__ import annotations

import argparse

import numpy as np

from patrolmarl.agents.registry import load_policy
from patrolmarl.beats.partition import (
    DEFAULT_TOLERANCE,
    PartitionProblem,
    block_calls,
    grow_partition,
    patrol_time_posts,
    solve_partition_mip,
)
from patrolmarl.beats.patrol_time import record_patrol_time
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.runner import day_seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--mip-seconds", type=float, default=60.0)
    args = parser.parse_args()
    d = District.load("gaoxin")
    source = load_policy("pmedian", d, 0)
    time_ = record_patrol_time(d, source, day_seeds(0, args.days), args.blocks)
    posts = patrol_time_posts(time_, d)
    rates, services = block_calls(IncidentModel(d), time_.block_hours)
    units = np.arange(d.n_units)
    print(f"gaoxin: {d.n_cells} cells x {d.n_units} units, tolerance {DEFAULT_TOLERANCE:.0%}")
    for k in range(args.blocks):
        problem = PartitionProblem(
            rates[k], services[k], d.unit_travel_minutes[units, posts[k]], posts[k], d.neighbour
        )
        h = grow_partition(problem)
        print(
            f"block {k}: heuristic {h.seconds:.2f} s, cost {h.cost:.4f}, bound "
            f"{h.lower_bound:.4f}, gap {h.gap:.1%}, imbalance {h.imbalance:.1%}"
        )
        try:
            m = solve_partition_mip(problem, args.mip_seconds)
        except ValueError as exc:
            print(f"         MIP: {exc}")
            continue
        print(
            f"         MIP {m.seconds:.1f} s, cost {m.cost:.4f}, bound {m.lower_bound:.4f}, "
            f"gap {m.gap:.1%}, heuristic / MIP cost {h.cost / m.cost:.3f}"
        )


if __name__ == "__main__":
    main()
