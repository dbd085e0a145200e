"""The hourly p-median's certified gaps: objective, proven bound, gap and solve time per hour.

Solves every hour from scratch (no cache) with the default solver settings, or
the ones given, and prints one row per hour, then the call-weighted bound and
the worst gap. ``--grid N`` instead solves one hour on a synthetic N x N grid
(two vehicle types, 14 units) to show the time limit holding on large grids.

    python benchmarks/pmedian_gaps.py [--district gaoxin] [--hours 0,19]
        [--mip-time-limit 60] [--gap-tolerance 0.01] [--time-limit 120]
    python benchmarks/pmedian_gaps.py --grid 64 --time-limit 60
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from patrolmarl.agents.pmedian import PMedianSettings, solve_pmedian
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--hours", default="0-23", help="e.g. 0-23 or 0,19")
    parser.add_argument("--grid", type=int, default=0, help="synthetic N x N grid instead")
    for field in dataclasses.fields(PMedianSettings):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default)
    args = parser.parse_args()
    settings = PMedianSettings(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(PMedianSettings)}
    )
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, {settings}")
    if args.grid:
        weights, travel, unit_vehicle = _synthetic(args.grid)
        hours = {0: weights}
    else:
        district = District.load(args.district)
        street = IncidentModel(district).street_rate_per_minute()
        travel, unit_vehicle = district.travel_minutes, district.unit_vehicle
        hours = {h: street[h] for h in _hours(args.hours)}
    print("\nhour  objective  proven bound     gap   wall s    cpu s  bound from")
    rows = []
    for h, weights in hours.items():
        wall, cpu = time.perf_counter(), time.process_time()
        sol = solve_pmedian(weights, travel, unit_vehicle, settings)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append((weights.sum(), sol, wall, cpu))
        print(
            f"{h:4d}  {sol.objective:9.4f}  {sol.lower_bound:12.4f}  {100 * sol.gap:5.2f} %"
            f"  {wall:7.2f}  {cpu:7.2f}  {sol.bound_source}",
            flush=True,
        )
    calls = np.array([r[0] for r in rows])
    bound = np.array([r[1].lower_bound for r in rows]) @ calls / calls.sum()
    at_sites = np.array([r[1].objective for r in rows]) @ calls / calls.sum()
    print(
        f"\ncall-weighted: travel at sites {at_sites:.4f} min, proven bound {bound:.4f} min; "
        f"worst gap {100 * max(r[1].gap for r in rows):.2f} %; "
        f"total {sum(r[2] for r in rows):.1f} s wall, {sum(r[3] for r in rows):.1f} s cpu"
    )


def _hours(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(x) for x in text.split("-"))
        return list(range(first, last + 1))
    return [int(x) for x in text.split(",")]


def _synthetic(side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Manhattan travel on a side x side grid for a car and a bike, skewed demand."""
    rng = np.random.default_rng(0)
    rc = np.stack(np.divmod(np.arange(side * side), side), axis=1).astype(np.float32)
    blocks = np.abs(rc[:, None, 0] - rc[None, :, 0]) + np.abs(rc[:, None, 1] - rc[None, :, 1])
    travel = np.stack([blocks * 0.8, blocks * 1.3]).astype(np.float64)
    unit_vehicle = np.repeat([0, 1], [10, 4])
    return rng.gamma(0.5, size=side * side), travel, unit_vehicle


if __name__ == "__main__":
    main()
