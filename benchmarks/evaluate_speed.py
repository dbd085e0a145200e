"""How long the evaluator takes: 30 days x the baselines on gaoxin, cold and warm cache.

Cold: the 24 hourly p-medians and pmedian_theft's posts are solved from
scratch into an empty solution cache (a temporary folder). Warm: every later
stage runs in a fresh process (nothing kept in memory, not even the
allocator's warm heap) and reads them back from that cache: each baseline's
batched days alone, then the whole evaluation (simulation, bootstrap, limit)
in one process and in ``default_workers()`` processes, then the report
writing. The load average is printed beside every figure, so that a
measurement on a loaded machine is recognisable. Add baselines to POLICIES.

    python benchmarks/evaluate_speed.py [--days 30] [--district gaoxin] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patrolmarl.agents import pmedian
from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.theft_posts import DEFAULT_THEFT_WEIGHT, hourly_theft_posts
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.evaluate import evaluate
from patrolmarl.evaluation.report import write_report
from patrolmarl.evaluation.runner import day_seeds, default_workers, run_policy

POLICIES = ("fixed_zone", "nearest", "pmedian", "coverage", "random", "pmedian_theft", "redeploy")
TARGET_SECONDS = 10.0  # warm cache (issue 11)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--stage", nargs=2, metavar=("KIND", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(_stage(args, *args.stage)))
        return

    print(f"cpus: {os.cpu_count()}, {_load()}, district {args.district}, {args.days} days")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PATROLMARL_CACHE_DIR"] = cache
        cold = _run(args, "solve", "pmedian")
        print(
            f"\ncold cache: 24 hourly p-medians solved in {cold['seconds']:7.2f} s, "
            f"pmedian_theft's posts in {cold['posts_seconds']:.2f} s   ({_load()})"
        )
        print("\nwarm cache, a fresh process per line:")
        print("  each baseline's days alone (one process)")
        total = 0.0
        for name in POLICIES:
            seconds = _run(args, "policy", name)["seconds"]
            total += seconds
            print(f"    {name:30s} {seconds:7.2f}   ({_load()})")
        print(f"    {'sum':30s} {total:7.2f}")
        print("  evaluate() of them all (simulation, bootstrap, limit), then the report")
        timed = {}
        for workers in sorted({1, args.workers}):
            figures = _run(args, "evaluate", str(workers))
            timed[workers] = figures["seconds"]
            print(
                f"    {f'{workers} process(es)':30s} {figures['seconds']:7.2f}   "
                f"report {figures['report_seconds']:.2f}   ({_load()})"
            )
            if not figures["read_cache"]:
                print("    (NOT read from the cache: the p-medians were solved again)")
    best = min(timed, key=timed.get)
    print(
        f"\nwarm evaluate: {timed[best]:.1f} s for {args.days} days x {len(POLICIES)} baselines "
        f"({best} process(es)); target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if timed[best] < TARGET_SECONDS else 'NOT met'} "
        f"(ratio {timed[best] / TARGET_SECONDS:.2f} of the budget; {_load()})"
    )


def _run(args: argparse.Namespace, kind: str, what: str) -> dict:
    """One stage in a fresh process (nothing kept in memory from the stages before)."""
    command = [sys.executable, __file__, "--days", str(args.days), "--district", args.district]
    command += ["--seed", str(args.seed), "--stage", kind, what]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def _stage(args: argparse.Namespace, kind: str, what: str) -> dict:
    """Time one stage in this process: the cold solve, one baseline, or evaluate() + report."""
    district = District.load(args.district)
    seeds = day_seeds(args.seed, args.days)
    started = time.perf_counter()
    if kind == "solve":
        incidents = IncidentModel(district)
        pmedian.hourly_pmedian(district, incidents)
        solved = time.perf_counter()
        hourly_theft_posts(district, incidents, DEFAULT_THEFT_WEIGHT, certify=False)
        return {"seconds": solved - started, "posts_seconds": time.perf_counter() - solved}
    if kind == "policy":
        run_policy(district, BASELINES[what](seed=args.seed), seeds)
        return {"seconds": time.perf_counter() - started}
    policies = [BASELINES[name](seed=args.seed) for name in POLICIES]
    ev = evaluate(district, policies, args.days, args.seed, workers=int(what))
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_report(ev, Path(tmp) / "report")
        report_seconds = time.perf_counter() - started
    read_cache = all(plan.from_cache for plan in pmedian._MEMO.values())
    return {"seconds": seconds, "report_seconds": report_seconds, "read_cache": read_cache}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


if __name__ == "__main__":
    main()
