"""How far below each policy any policy's combined cost could go: the room the bounds leave.

The combined cost of a day is its street calls' response minutes + lambda x its
thefts. Two certified bounds hold for every policy
(:mod:`patrolmarl.evaluation.limits`): mean travel is at least the call-weighted
hourly p-median bound, and expected thefts are at least the theft bound. So no
policy's expected cost per day is below

    calls reached per day x travel bound + lambda x theft bound

(the two bounds are not reached together, so the true floor is higher). This
script plays each policy on the held-out days and prints its response minutes,
its expected thefts (the simulator's own step forecasts, summed: the part of
the theft count that a policy can move, without the draw's noise), realised
thefts, and its headroom: expected cost per day minus that floor. A policy can
beat another by at most the other's headroom, and beating it with a 95 %
interval excluding zero on these days needs a margin of about the interval's
half-width, which ``patrolmarl evaluate`` prints for every pair. The last
columns are each policy's paired differences against ``--against`` with their
95 % bootstrap intervals (days resampled in pairs, as ``patrolmarl evaluate``
does): of the realised cost and of the expected cost (how much of the interval
is the theft draw's noise), then of the expected thefts.

    python benchmarks/cost_headroom.py [--district gaoxin] [--days 30] [--seed 20000]
        [--policies fixed_zone,nearest,...,learned=models/gaoxin] [--against pmedian_theft]
        [--theft-minutes 60]
"""

from __future__ import annotations

import argparse

import numpy as np

from patrolmarl.agents.registry import load_policies
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import day_parts
from patrolmarl.envs.reward import ShapedReward
from patrolmarl.envs.sim_view import SimView
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.combined_cost import check_theft_minutes
from patrolmarl.evaluation.limits import theft_limit, travel_limit
from patrolmarl.evaluation.runner import day_seeds, run_policy
from patrolmarl.evaluation.statistics import paired_bootstrap

DEFAULT_POLICIES = "fixed_zone,nearest,pmedian,coverage,redeploy,pmedian_theft"


class ExpectedThefts:
    """An ``observe`` hook of :func:`run_policy`: sums each day's step theft forecasts."""

    def __init__(self, days: int) -> None:
        self.per_day = np.zeros(days)
        self._reward: ShapedReward | None = None

    def __call__(self, view: SimView) -> None:
        if self._reward is None:
            self._reward = ShapedReward(view)
        self.per_day += self._reward.expected_thefts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", default="gaoxin")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20000)
    parser.add_argument("--policies", default=DEFAULT_POLICIES)
    parser.add_argument("--against", default="pmedian_theft")
    parser.add_argument("--theft-minutes", type=float, default=60.0)
    args = parser.parse_args()
    if args.days < 1:
        parser.error(f"--days must be at least 1, got {args.days}")
    try:
        lam = check_theft_minutes(args.theft_minutes)
    except PatrolMarlError as error:
        parser.error(f"--theft-minutes: {error}")

    district = District.load(args.district)
    incidents = IncidentModel(district)
    travel_bound = travel_limit(district, incidents)["travel_lower_bound"]
    theft_bound = theft_limit(district, incidents)["theft_lower_bound"]
    seeds = day_seeds(args.seed, args.days)
    print(
        f"{args.district}, {args.days} days (seed {args.seed}), lambda {lam:g}: travel bound "
        f"{travel_bound:.3f} min, theft bound {theft_bound:.3f} expected/day"
    )
    try:
        policies = load_policies(args.policies.split(","), district, seed=args.seed)
    except PatrolMarlError as error:
        parser.error(f"--policies: {error}")
    if args.against not in [policy.name for policy in policies]:
        parser.error(f"--against {args.against!r} is not one of the --policies")
    rows = {}
    for policy in policies:
        expected = ExpectedThefts(args.days)
        records = run_policy(district, policy, seeds, observe=expected)
        parts = [day_parts(r, incidents) for r in records]
        rows[policy.name] = {
            "calls": np.array([p["response_mean"][1] for p in parts]),
            "response": np.array([p["response_mean"][0] for p in parts]),
            "thefts": np.array([p["thefts"][0] for p in parts]),
            "expected_thefts": expected.per_day,
        }
    print(
        f"  {'policy':<16}{'calls/day':>10}{'resp min/day':>13}{'E thefts':>10}{'thefts':>8}"
        f"{'E cost':>9}{'floor':>8}{'headroom':>10}"
        f"   cost - {args.against} [95 % CI]: realised | expected"
        f"   E thefts - {args.against}"
    )
    ones = np.ones(args.days)
    rng = np.random.default_rng([args.seed, 2**31 - 2])
    theft_rng = np.random.default_rng([args.seed, 2**31 - 3])  # keeps the cost intervals' draws
    base = rows[args.against]

    def interval(ours: np.ndarray, theirs: np.ndarray, draws: np.random.Generator, form: str):
        d = paired_bootstrap(ours, ones, theirs, ones, draws)
        if d.ci_low is None:
            return f"{d.difference:+{form}}"
        return f"{d.difference:+{form}} [{d.ci_low:+{form}}, {d.ci_high:+{form}}]"

    base_realised = base["response"] + lam * base["thefts"]
    base_expected = base["response"] + lam * base["expected_thefts"]
    for name, row in rows.items():
        realised = row["response"] + lam * row["thefts"]
        cost = row["response"] + lam * row["expected_thefts"]
        floor = row["calls"] * travel_bound + lam * theft_bound
        intervals = (
            interval(realised, base_realised, rng, "6.1f"),
            interval(cost, base_expected, rng, "6.1f"),
            interval(row["expected_thefts"], base["expected_thefts"], theft_rng, ".3f"),
        )
        print(
            f"  {name:<16}{row['calls'].mean():>10.2f}{row['response'].mean():>13.1f}"
            f"{row['expected_thefts'].mean():>10.3f}{row['thefts'].mean():>8.2f}"
            f"{cost.mean():>9.1f}{floor.mean():>8.1f}{(cost - floor).mean():>10.1f}"
            f"   {intervals[0]} | {intervals[1]}   {intervals[2]}"
        )


if __name__ == "__main__":
    main()
