"""How long the evaluator takes: 30 days x the 5 baselines on gaoxin (target: under 60 s).

Prints the wall time of each stage in one run: the 24 hourly p-median solves
(solved once per district and cached: the pmedian policy and the limit share
them), each baseline's batched days, the bootstrap, the whole evaluation; then
the report writing.

    python benchmarks/evaluate_speed.py [--days 30] [--district gaoxin]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.pmedian import hourly_pmedian
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.evaluate import evaluate
from patrolmarl.evaluation.report import write_report

POLICIES = ("fixed_zone", "nearest", "pmedian", "coverage", "random", "pmedian_theft", "redeploy")
TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"cpus: {os.cpu_count()}, district {args.district}, {args.days} days, {POLICIES}")
    started = time.perf_counter()
    district = District.load(args.district)
    hourly_pmedian(district, IncidentModel(district))  # cached for pmedian and the limit
    solve_seconds = time.perf_counter() - started
    stage: dict[str, float] = {}
    last = {"name": None, "at": time.perf_counter()}

    def on_step(name: str, steps: int) -> None:
        if name != last["name"]:
            now = time.perf_counter()
            if last["name"] is not None:
                stage[last["name"]] = now - last["at"]
            last.update(name=name, at=now)

    policies = [BASELINES[name](seed=args.seed) for name in POLICIES]
    ev = evaluate(district, policies, args.days, args.seed, on_step=on_step)
    total = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_report(ev, Path(tmp) / "report")
        report_seconds = time.perf_counter() - t0

    print("\nstage                               seconds")
    print(f"  {'24 hourly p-medians (solved once)':32s} {solve_seconds:7.2f}")
    for name, seconds in stage.items():
        print(f"  {name + ' (days batched)':32s} {seconds:7.2f}")
    rest = total - solve_seconds - sum(stage.values())
    print(f"  {'last policy, bootstrap, limit':32s} {rest:7.2f}")
    print(f"evaluate() total                    {total:7.2f}")
    print(f"report (md, html, json, plots)      {report_seconds:7.2f}")
    print(
        f"\nevaluate: {total:.1f} s for {args.days} days x {len(POLICIES)} baselines; "
        f"target < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'NOT met'} "
        f"(ratio {total / TARGET_SECONDS:.2f} of the budget)"
    )


if __name__ == "__main__":
    main()
