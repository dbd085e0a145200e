"""The simulator under NEAREST against Erlang C over a grid of servers and loads.

Each point is an M/M/c queue on a 1x1 district (see
:mod:`patrolmarl.evaluation.queue_check`). Days are run in chunks until both
P(wait) and the mean wait are resolved (4 standard errors within 2 % and 3 %)
or the point's share of the time budget is spent (or exactly ``--days`` days if
given). Per point it prints the simulated and exact values, the relative error,
the relative standard error, whether the bound is resolved and the days that
would resolve it (``days * (SE / (bound / 4))^2``).

    python benchmarks/queueing_check.py [--servers 1 2 5 14] [--rho 0.5 0.7 0.85 0.9]
        [--budget-seconds 600 | --days 400] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time

from patrolmarl.evaluation.queue_check import (
    SIGMAS,
    DaySample,
    Estimate,
    QueuePoint,
    chunk_days,
    run_mmc,
)
from patrolmarl.evaluation.queueing import erlang_c, erlang_c_wait

P_BOUND, W_BOUND = 0.02, 0.03  # relative bounds on P(wait) and the mean wait


def _days_needed(sample: DaySample, se: float, exact: float, bound: float) -> int:
    return math.ceil(sample.days * (se / (bound * exact / SIGMAS)) ** 2)


def check_point(point: QueuePoint, seed: int, seconds: float, days: int | None) -> str:
    """Run one point and format its line."""
    chunk = chunk_days(point)
    p_exact = erlang_c(point.servers, point.offered)
    w_exact = erlang_c_wait(point.servers, point.offered, point.mean_service)
    start = time.perf_counter()
    sample = run_mmc(point, chunk if days is None else days, seed)
    while days is None:
        p, w = sample.p_wait(), sample.mean_wait()
        resolved = p.resolves(p_exact, P_BOUND) and w.resolves(w_exact, W_BOUND)
        if resolved or time.perf_counter() - start > seconds:
            break
        sample = sample.concat(run_mmc(point, chunk, seed, first_day=sample.days))
    p, w = sample.p_wait(), sample.mean_wait()
    elapsed = time.perf_counter() - start

    def cells(est: Estimate, exact: float, bound: float) -> str:
        verdict = "yes" if est.resolves(exact, bound) else "no"
        need = _days_needed(sample, est.se, exact, bound)
        return (
            f"{est.value:9.5f} {exact:9.5f} {100 * est.rel_error(exact):+6.2f}% "
            f"{100 * est.rel_se(exact):5.2f}% {verdict:>3} {need:7d}"
        )

    return (
        f"{point.servers:3d} {point.rho:5.2f} {sample.days:6d} {elapsed:6.1f} "
        f"{cells(p, p_exact, P_BOUND)} | {cells(w, w_exact, W_BOUND)} {sample.censored:4d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 5, 14])
    parser.add_argument("--rho", type=float, nargs="+", default=[0.5, 0.7, 0.85, 0.9])
    parser.add_argument("--mean-service", type=float, default=2.0, help="minutes")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-seconds", type=float, default=600.0)
    budget.add_argument("--days", type=int, help="exactly this many days per point")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.days is not None and args.days < 2:
        parser.error("--days must be at least 2")
    points = [QueuePoint(c, rho, args.mean_service) for c in args.servers for rho in args.rho]
    share = args.budget_seconds / len(points)
    print(
        f"Erlang C check under NEAREST, mean service {args.mean_service:g} min, step 1 min; "
        f"resolved = {SIGMAS:g} SE within {100 * P_BOUND:g}% (P(wait)) / {100 * W_BOUND:g}% (wait)"
    )
    head = "   sim     exact   rel err  rel SE res  days*"
    print(f"  c   rho   days   secs {'P(wait)':^48} | {'mean wait (min)':^48} cens")
    print(f"{'':21} {head} | {head}")
    for point in points:
        print(check_point(point, args.seed, share, args.days), flush=True)
    print("days*: days that would resolve the bound at the measured standard error")


if __name__ == "__main__":
    main()
