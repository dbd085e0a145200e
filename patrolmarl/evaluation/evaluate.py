"""Score policies on the same days against a baseline (default fixed_zone), beside the limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from patrolmarl.agents.policy import Policy
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import (
    EpisodeRecord,
    concatenate_records,
    day_parts,
    episode_metrics,
)
from patrolmarl.envs.status import SERVED
from patrolmarl.errors import PatrolMarlError
from patrolmarl.evaluation.breakdowns import breakdowns
from patrolmarl.evaluation.calibration import calibration_table
from patrolmarl.evaluation.combined_cost import (
    DEFAULT_THEFT_MINUTES,
    check_theft_minutes,
    day_costs,
)
from patrolmarl.evaluation.limits import theft_limit, travel_limit
from patrolmarl.evaluation.runner import day_seeds, run_policies
from patrolmarl.evaluation.statistics import paired_bootstrap

BASELINE = "fixed_zone"
# Metrics compared against the baseline: lower is better unless listed in HIGHER_IS_BETTER.
# Each compared metric and the ratio of :func:`day_parts` it is (``combined_cost`` and
# ``expected_cost``: see :func:`_ratio_parts`).
COMPARED = {
    "response_mean": "response_mean",
    "travel_mean": "travel_mean",
    "within_5_min": "within_5_min",
    "within_10_min": "within_10_min",
    "thefts_per_day": "thefts",
    "expected_thefts_per_day": "expected_thefts",
    "closure_rate": "closure_rate",
    "visibility": "visibility",
    "fallback_per_day": "fallback_dispatches",
    "combined_cost_per_day": "combined_cost",
    "expected_cost_per_day": "expected_cost",
}
HIGHER_IS_BETTER = frozenset({"within_5_min", "within_10_min", "closure_rate", "visibility"})


@dataclass
class PolicyResult:
    """One policy's days: raw records, per-day metrics and the pooled summary."""

    name: str
    records: list[EpisodeRecord]
    per_day: list[dict]
    summary: dict
    vs_baseline: dict[str, dict] = field(default_factory=dict)
    breakdown: dict = field(default_factory=dict)

    def response_times(self) -> np.ndarray:
        """All realised response times (minutes) of patrol-served calls, pooled over days."""
        pooled = concatenate_records(self.records)
        served = pooled.status == SERVED
        return (pooled.arrival_time - pooled.time)[served]

    def occupancy_per_day(self) -> np.ndarray:
        """``(C,)`` mean unit-minutes per day spent in each cell (where the policy patrols)."""
        total = sum(r.occupied_steps for r in self.records) * self.records[0].step_minutes
        return total / len(self.records)


@dataclass
class Evaluation:
    """The outcome of :func:`evaluate`: every policy on the same days, and the limit."""

    district: District
    seed: int
    seeds: list[list[int]]
    results: list[PolicyResult]
    limit: dict
    calibration: dict | None
    baseline: str = BASELINE
    pairs: dict[str, dict] = field(default_factory=dict)
    theft_minutes: float = DEFAULT_THEFT_MINUTES

    def result(self, name: str) -> PolicyResult:
        """The result of the policy called ``name``."""
        return next(r for r in self.results if r.name == name)

    def to_json(self) -> dict:
        """The machine-readable form written to ``metrics.json`` (keys documented in README)."""
        return {
            "district": self.district.name,
            "district_config_sha256": self.district.config_sha256,
            "seed": self.seed,
            "days": len(self.seeds),
            "day_seeds": self.seeds,
            "baseline": self.baseline,
            "theft_minutes": self.theft_minutes,
            "pairs": self.pairs,
            "limit": self.limit,
            "calibration": self.calibration,
            "policies": {
                r.name: {
                    "summary": r.summary,
                    "vs_baseline": r.vs_baseline,
                    "breakdowns": r.breakdown,
                    "per_day": r.per_day,
                }
                for r in self.results
            },
        }


def evaluate(
    district: District,
    policies: Sequence[Policy],
    days: int,
    seed: int,
    on_step: Callable[[str, int], None] | None = None,
    resamples: int = 2000,
    with_limit: bool = True,
    workers: int = 1,
    baseline: str = BASELINE,
    pairs: Sequence[tuple[str, str]] = (),
    theft_minutes: float = DEFAULT_THEFT_MINUTES,
) -> Evaluation:
    """Run every policy on the same ``days`` seeded days and compare with ``baseline``.

    ``fixed_zone`` is added if it is the baseline and not among ``policies``;
    any other baseline must be one of them. ``pairs`` ``(A, B)`` add the paired
    differences ``A - B`` (:func:`paired_differences`), keyed ``"A-B"``. Confidence intervals
    are paired bootstrap 95 % intervals over days, seeded from ``seed``.
    ``with_limit=False`` skips the limits (24 p-median solves and the theft
    bound; quick checks only). ``workers > 1`` plays the policies in that many
    processes (the same figures; see :func:`~patrolmarl.evaluation.runner.run_policies`).
    ``theft_minutes`` is lambda of the combined cost (response minutes + lambda x thefts,
    :mod:`~patrolmarl.evaluation.combined_cost`): a finite number >= 0.
    """
    from patrolmarl.agents.baselines import FixedZonePolicy

    theft_minutes = check_theft_minutes(theft_minutes)
    policies = list(policies)
    if baseline == BASELINE and BASELINE not in [p.name for p in policies]:
        policies.insert(0, FixedZonePolicy(seed=seed))
    check_compared_names([p.name for p in policies], baseline, pairs)
    seeds = day_seeds(seed, days)
    incidents = IncidentModel(district)
    # The limits first: the p-medians they solve are then shared by the policies' processes.
    limit = (
        {**travel_limit(district, incidents), **theft_limit(district, incidents)}
        if with_limit
        else {}
    )
    results = [
        summarise(policy.name, records, incidents, theft_minutes)
        for policy, records in zip(
            policies,
            run_policies(district, policies, seeds, on_step=on_step, workers=workers),
            strict=True,
        )
    ]
    for r in results:
        r.breakdown = breakdowns(r.records, incidents)
    base = next(r for r in results if r.name == baseline)
    rng = np.random.default_rng([seed, 2**31 - 1])
    base_parts = _ratio_parts(base.records, incidents, theft_minutes)
    for r in results:
        parts = _ratio_parts(r.records, incidents, theft_minutes)
        r.vs_baseline = {
            metric: paired_bootstrap(*parts[metric], *base_parts[metric], rng, resamples).as_dict()
            for metric in COMPARED
        }
    ev = Evaluation(
        district=district,
        seed=seed,
        seeds=seeds,
        results=results,
        limit=limit,
        calibration=_calibration(district, results),
        baseline=baseline,
        theft_minutes=theft_minutes,
    )
    ev.pairs = {
        f"{a}-{b}": {
            "policy": a,
            "against": b,
            "differences": paired_differences(ev, a, b, resamples),
        }
        for a, b in pairs
    }
    return ev


def check_compared_names(
    names: Sequence[str], baseline: str, pairs: Sequence[tuple[str, str]]
) -> None:
    """Refuse a baseline or pair naming a policy not among ``names``, or a policy with itself.

    Raises
    ------
    PatrolMarlError
        Naming the flag (``--baseline`` or ``--pairs``) and the evaluated policies.
    """
    known = ", ".join(names)
    if baseline not in names:
        raise PatrolMarlError(f"--baseline: {baseline!r} is not an evaluated policy ({known})")
    for a, b in pairs:
        for name in (a, b):
            if name not in names:
                raise PatrolMarlError(
                    f"--pairs: {name!r} in {a}:{b} is not an evaluated policy ({known})"
                )
        if a == b:
            raise PatrolMarlError(f"--pairs: {a}:{b} compares a policy with itself")


def paired_differences(
    ev: Evaluation, policy: str, against: str, resamples: int = 2000
) -> dict[str, dict[str, float | bool]]:
    """``policy - against`` on every compared metric over the evaluation's days (95 % CI).

    The same paired bootstrap as the comparison with the baseline, for any two
    evaluated policies (e.g. a learned policy against ``nearest``).
    """
    incidents = IncidentModel(ev.district)
    rng = np.random.default_rng([ev.seed, 2**31 - 2])
    ours = _ratio_parts(ev.result(policy).records, incidents, ev.theft_minutes)
    theirs = _ratio_parts(ev.result(against).records, incidents, ev.theft_minutes)
    return {
        metric: paired_bootstrap(*ours[metric], *theirs[metric], rng, resamples).as_dict()
        for metric in COMPARED
    }


def summarise(
    name: str,
    records: list[EpisodeRecord],
    incidents: IncidentModel,
    theft_minutes: float = DEFAULT_THEFT_MINUTES,
) -> PolicyResult:
    """Per-day metrics and the pooled summary (rates per day) of one policy's days.

    Each day's metrics add its ``combined_cost`` (lambda = ``theft_minutes``) and
    its ``expected_cost`` (the same with the expected thefts); the summary's
    ``combined_cost_per_day`` and ``expected_cost_per_day`` are their means.
    """
    per_day = [
        {**episode_metrics(r, incidents), **day_costs(day_parts(r, incidents), theft_minutes)}
        for r in records
    ]
    pooled = episode_metrics(concatenate_records(records), incidents)
    days = len(records)
    summary = {
        key: value
        for key, value in pooled.items()
        if key not in ("visibility", "workload_minutes", "workload_cv", "calls_by_type")
    }
    summary.update(
        {
            "days": days,
            "calls_per_day": pooled["calls_created"] / days,
            "on_scene_calls_per_day": (pooled["served_by_patrol"] + pooled["handed_over"]) / days,
            "thefts_per_day": pooled["thefts"] / days,
            "expected_thefts_per_day": pooled["expected_thefts"] / days,
            "fallback_per_day": pooled["fallback_dispatches"] / days,
            "calls_by_type_per_day": {k: v / days for k, v in pooled["calls_by_type"].items()},
            "visibility": float(np.mean([m["visibility"] for m in per_day])),
            "workload_minutes_per_day": [w / days for w in pooled["workload_minutes"]],
            "workload_cv": float(np.mean([m["workload_cv"] for m in per_day])),
            "combined_cost_per_day": float(np.mean([m["combined_cost"] for m in per_day])),
            "expected_cost_per_day": float(np.mean([m["expected_cost"] for m in per_day])),
        }
    )
    return PolicyResult(name=name, records=records, per_day=per_day, summary=summary)


def _ratio_parts(
    records: list[EpisodeRecord], incidents: IncidentModel, theft_minutes: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``(days,)`` numerators and denominators of each compared metric: those of
    :func:`day_parts`, and the day's combined and expected costs over 1 (lambda =
    ``theft_minutes``)."""
    days = [day_parts(r, incidents) for r in records]
    for parts in days:
        parts.update({key: (cost, 1.0) for key, cost in day_costs(parts, theft_minutes).items()})
    return {
        metric: (
            np.array([d[COMPARED[metric]][0] for d in days]),
            np.array([d[COMPARED[metric]][1] for d in days]),
        )
        for metric in COMPARED
    }


def _calibration(district: District, results: list[PolicyResult]) -> dict | None:
    """The ``nearest`` policy's figures beside the report's (None if it was not run)."""
    nearest = next((r for r in results if r.name == "nearest"), None)
    if nearest is None:
        return None
    return calibration_table(district, nearest.summary, nearest.breakdown)
