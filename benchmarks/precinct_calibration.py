"""The district's calibration precinct by precinct: the nearest baseline beside the report.

Per precinct: patrol share (patrol-served / on-scene calls), closure on scene,
on-scene calls a day, thefts a week (mean) and the worst week of a year (averaged
over the simulated years); then the district-wide figures. The report's figures
(shared/DOMAIN.md) are in :mod:`patrolmarl.evaluation.calibration`.

    python benchmarks/precinct_calibration.py [--district gaoxin] [--years 5] [--seed 10000]
"""

from __future__ import annotations

import argparse
import sys
import time

from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.calibration import (
    REPORTED,
    REPORTED_HOT_SPOT,
    YEAR_DAYS,
    hot_spot_precinct,
    nearest_records,
    precinct_calibration,
)
from patrolmarl.evaluation.evaluate import summarise


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=10000)
    args = parser.parse_args()
    if args.years < 1:
        sys.exit("--years must be at least 1")
    started = time.perf_counter()
    try:
        district = District.load(args.district)
    except PatrolMarlError as exc:
        sys.exit(str(exc))
    incidents = IncidentModel(district)
    days = args.years * YEAR_DAYS
    records = nearest_records(district, days, args.seed)
    table = precinct_calibration(records, incidents)
    hot = hot_spot_precinct(district, incidents)
    print(f"district {district.name}, nearest, {args.years} x {YEAR_DAYS} days, seed {args.seed}")
    print(
        f"{'precinct':14s} {'patrol share':>12s} {'reported':>9s} {'closure':>9s} "
        f"{'calls/day':>9s} {'theft/wk':>8s} {'worst wk':>8s} {'reported':>8s}"
    )
    for code, row in table.items():
        name = f"{code} {district.config.precincts[code].name}"
        reported_share = _pct(REPORTED_HOT_SPOT["patrol_share"]) if code == hot else ""
        reported_peak = f"{REPORTED_HOT_SPOT['theft_peak_per_week']:.0f}" if code == hot else ""
        print(
            f"{name:14s} {_pct(row['patrol_share']):>12s} {reported_share:>9s} "
            f"{_pct(row['closure_rate']):>9s} {row['on_scene_calls_per_day']:9.2f} "
            f"{row['thefts_per_week']:8.2f} {row['worst_week_thefts']:8.2f} {reported_peak:>8s}"
        )
    summary = summarise("nearest", records, incidents).summary
    print(
        f"{'district':14s} {_pct(summary['patrol_share']):>12s} "
        f"{_pct(REPORTED['patrol_share']):>9s} {_pct(summary['closure_rate']):>9s} "
        f"{summary['on_scene_calls_per_day']:9.2f}   (reported closure "
        f"{_pct(REPORTED['closure_rate'])}, {REPORTED['on_scene_calls_per_day']:.0f} calls/day)"
    )
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
