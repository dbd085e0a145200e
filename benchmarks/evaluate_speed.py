"""How long the evaluator takes: 30 days x the baselines on gaoxin, cold and warm cache.

Cold: the 24 hourly p-medians are solved from scratch into an empty solution
cache (a temporary folder). Warm: a fresh evaluation (nothing kept in memory)
reads them back from that cache; its stages are timed: each baseline's
batched days, the bootstrap and limit, the whole evaluation; then the report
writing. Add baselines to POLICIES.

    python benchmarks/evaluate_speed.py [--days 30] [--district gaoxin]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from patrolmarl.agents import pmedian
from patrolmarl.agents.baselines import BASELINES
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.evaluate import evaluate
from patrolmarl.evaluation.report import write_report

POLICIES = ("fixed_zone", "nearest", "pmedian", "coverage", "random", "pmedian_theft", "redeploy")
TARGET_SECONDS = 10.0  # warm cache (issue 11)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(
        f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
        f"district {args.district}, {args.days} days, {POLICIES}"
    )
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PATROLMARL_CACHE_DIR"] = cache
        district = District.load(args.district)
        started, cpu = time.perf_counter(), time.process_time()
        pmedian.hourly_pmedian(district, IncidentModel(district))
        solve_seconds = time.perf_counter() - started
        print(f"cold solve cpu seconds: {time.process_time() - cpu:.1f} (wall below)")
        pmedian._MEMO.clear()  # the warm run reads the cache as a new process would
        timings = _warm_evaluation(district, args)
        read_back = all(plan.from_cache for plan in pmedian._MEMO.values())
    _print(solve_seconds, *timings, args)
    print(f"the warm run read its p-medians from the cache: {'yes' if read_back else 'NO'}")


def _warm_evaluation(district: District, args: argparse.Namespace) -> tuple:
    started, cpu = time.perf_counter(), time.process_time()
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
    print(f"warm evaluate cpu seconds: {time.process_time() - cpu:.1f} (wall below)")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_report(ev, Path(tmp) / "report")
        report_seconds = time.perf_counter() - t0
    return stage, total, report_seconds


def _print(
    solve_seconds: float,
    stage: dict[str, float],
    total: float,
    report_seconds: float,
    args: argparse.Namespace,
) -> None:
    print(f"\ncold cache: 24 hourly p-medians solved in {solve_seconds:7.2f} s")
    print("\nwarm cache: stage                    seconds")
    for name, seconds in stage.items():
        print(f"  {name + ' (days batched)':32s} {seconds:7.2f}")
    rest = total - sum(stage.values())
    print(f"  {'cache read, last policy, bootstrap, limit':32s} {rest:7.2f}")
    print(f"evaluate() total, warm cache        {total:7.2f}")
    print(f"evaluate() total, cold cache        {total + solve_seconds:7.2f} (solve + warm run)")
    print(f"report (md, html, json, plots)      {report_seconds:7.2f}")
    print(
        f"\nwarm evaluate: {total:.1f} s for {args.days} days x {len(POLICIES)} baselines; "
        f"target < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'NOT met'} "
        f"(ratio {total / TARGET_SECONDS:.2f} of the budget)"
    )


if __name__ == "__main__":
    main()
