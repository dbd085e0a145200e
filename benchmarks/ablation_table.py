"""The learning ablation table from an evaluation's ``metrics.json`` (issue 12).

Each learned row is compared, by the evaluator's paired bootstrap over the same
days, with its own warm start (the clone before any PPO update) and with the
baseline of lowest combined cost on those days::

    patrolmarl evaluate --policies ...,clone=RUN/warm_start.zip,ppo=RUN/best.zip \
        --days 30 --seed 20000 --out reports/ablation
    python benchmarks/ablation_table.py reports/ablation/metrics.json \
        --rows ppo:clone,scratch: --baselines fixed_zone,nearest,pmedian,pmedian_theft

``--rows`` lists ``POLICY:WARM_START`` (empty: a clone itself, a run from scratch or one
without a kept warm start; printed as a dash).
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


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, help="an evaluation's metrics.json")
    parser.add_argument(
        "--rows", required=True, help="POLICY:WARM_START,... (warm start may be empty)"
    )
    parser.add_argument("--baselines", required=True, help="baselines to pick the best from")
    args = parser.parse_args()
    metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
    policies = metrics["policies"]
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
