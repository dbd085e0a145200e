"""The learning ablation table from evaluations' ``metrics.json`` (issue 12).

Each learned row is compared, by the evaluator's paired bootstrap over the same
days, with its own warm start (the clone before any PPO update) and with the
baseline of lowest combined cost on those days::

    patrolmarl evaluate --policies ...,clone=RUN/warm_start.zip,ppo=RUN/best.zip \
        --days 30 --seed 20000 --out reports/ablation
    python benchmarks/ablation_table.py reports/ablation/metrics.json \
        --rows ppo:clone,scratch: --baselines fixed_zone,nearest,pmedian,pmedian_theft

``--rows`` lists ``POLICY:WARM_START`` (empty: a clone itself, a run from scratch or one
without a kept warm start; printed as a dash).
Several ``metrics.json`` of evaluations on the same days (same day seeds and lambda)
may be given: their policies are pooled, and a policy in more than one must have the
same per-day costs in each (the simulator is deterministic on given days).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from patrolmarl.evaluation.statistics import paired_bootstrap

SEED = 0  # the bootstrap's resampling, fixed so the table can be reproduced


def _per_day(policy: dict, key: str) -> np.ndarray:
    return np.array([day[key] for day in policy["per_day"]], dtype=float)


def _cost_difference(policies: dict, a: str, b: str) -> str:
    ones = np.ones(len(policies[a]["per_day"]))
    diff = paired_bootstrap(
        _per_day(policies[a], "combined_cost"),
        ones,
        _per_day(policies[b], "combined_cost"),
        ones,
        np.random.default_rng(SEED),
    )
    if diff.ci_low is None:
        return f"{diff.difference:+.1f}"
    return f"{diff.difference:+.1f} [{diff.ci_low:+.1f}, {diff.ci_high:+.1f}]"


def _pooled(evaluations: list[dict]) -> tuple[dict, dict]:
    """The first evaluation and the policies of all of them (see the module docstring)."""
    first = evaluations[0]
    policies: dict = {}
    for metrics in evaluations:
        for key in ("day_seeds", "theft_minutes"):
            if metrics[key] != first[key]:
                raise SystemExit(f"the evaluations differ in {key}: pool only the same days")
        for name, policy in metrics["policies"].items():
            known = policies.setdefault(name, policy)
            if (
                _per_day(known, "combined_cost").tolist()
                != _per_day(policy, "combined_cost").tolist()
            ):
                raise SystemExit(f"policy {name!r} scored differently in two evaluations")
    return first, policies


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "metrics", type=Path, nargs="+", help="metrics.json of evaluations on the same days"
    )
    parser.add_argument(
        "--rows", required=True, help="POLICY:WARM_START,... (warm start may be empty)"
    )
    parser.add_argument("--baselines", required=True, help="baselines to pick the best from")
    args = parser.parse_args()
    metrics, policies = _pooled([json.loads(path.read_text("utf-8")) for path in args.metrics])
    baselines = args.baselines.split(",")
    best = min(baselines, key=lambda name: policies[name]["summary"]["combined_cost_per_day"])
    print(
        f"{metrics['days']} days, seed {metrics['seed']}; combined cost = response minutes + "
        f"{metrics['theft_minutes']:g} x thefts; best baseline by cost: {best}\n"
    )
    print(
        "| policy | response (min) | thefts/day | cost/day | cost vs its warm start | "
        f"cost vs {best} |"
    )
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for row in args.rows.split(","):
        name, _, warm = row.partition(":")
        summary = policies[name]["summary"]
        versus_warm = _cost_difference(policies, name, warm) if warm else "—"
        print(
            f"| {name} | {summary['response_mean']:.2f} | {summary['thefts_per_day']:.2f} | "
            f"{summary['combined_cost_per_day']:.1f} | {versus_warm} | "
            f"{_cost_difference(policies, name, best)} |"
        )
    for name in baselines:
        summary = policies[name]["summary"]
        print(
            f"| {name} | {summary['response_mean']:.2f} | {summary['thefts_per_day']:.2f} | "
            f"{summary['combined_cost_per_day']:.1f} | | "
            f"{'' if name == best else _cost_difference(policies, name, best)} |"
        )


if __name__ == "__main__":
    main()
