"""The district's calibration to the 2020 report, district-wide and precinct by precinct.

The report's figures (shared/DOMAIN.md) live here, in one place, for the
evaluation report's calibration section and ``benchmarks/precinct_calibration.py``.
The report names one precinct (the one with the e-bike-theft hot spot); the
model's counterpart is the precinct with the highest undeterred theft rate.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.agents.baselines import NearestPolicy
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import EpisodeRecord, concatenate_records
from patrolmarl.envs.status import DETERRED, FUTURE, HANDED_OVER, SERVED
from patrolmarl.evaluation.breakdowns import breakdowns
from patrolmarl.evaluation.runner import day_seeds, run_policy

# District-wide figures of the report (Jan-Nov 2020).
REPORTED = {"on_scene_calls_per_day": 41.0, "patrol_share": 0.4483, "closure_rate": 0.8611}
# The hot-spot precinct: street patrol's weekly-average share of its calls, and the
# peak of its weekly e-bike-theft calls.
REPORTED_HOT_SPOT = {"patrol_share": 0.3997, "theft_peak_per_week": 19.0}
WEEK_DAYS = 7
YEAR_DAYS = 52 * WEEK_DAYS


def hot_spot_precinct(district: District, incidents: IncidentModel | None = None) -> str | None:
    """The precinct with the highest undeterred theft rate (the report's); None without theft."""
    incidents = incidents or IncidentModel(district)
    theft = incidents.rate_per_minute[:, incidents.deterrable, :].sum(axis=(0, 1))
    per_precinct = np.bincount(
        district.precinct_of_cell, weights=theft, minlength=district.n_precincts
    )
    if not per_precinct.any():
        return None
    return district.precinct_codes[int(np.argmax(per_precinct))]


def calibration_table(district: District, summary: dict, breakdown: dict) -> dict:
    """The ``nearest`` policy's figures beside the report's (``metrics.json`` "calibration").

    Returns
    -------
    dict
        ``district`` (figure -> model and reported value) and ``precincts``
        (code -> the precinct's patrol share and the report's figure: 39.97 %
        for the hot-spot precinct, None for the others).
    """
    hot = hot_spot_precinct(district)
    return {
        "district": {
            key: {"model": float(summary[key]), "reported": target}
            for key, target in REPORTED.items()
        },
        "precincts": {
            code: {
                "model": row["patrol_share"],
                "reported": REPORTED_HOT_SPOT["patrol_share"] if code == hot else None,
            }
            for code, row in breakdown["precincts"].items()
        },
    }


def precinct_calibration(records: list[EpisodeRecord], incidents: IncidentModel) -> dict:
    """Per-precinct figures of a policy's days (consecutive days form weeks and years).

    Returns
    -------
    dict
        precinct code -> ``patrol_share`` (as in the breakdowns), ``closure_rate``
        (on scene, of patrol-served calls), ``on_scene_calls_per_day``,
        ``thefts_per_week`` (mean) and ``worst_week_thefts`` (the most thefts in
        a week of each 52-week year, averaged over the whole years; None under a year).
    """
    district = incidents.district
    days = len(records)
    theft_days = np.zeros((days, district.n_precincts))
    for d, r in enumerate(records):
        created = (r.status != FUTURE) & (r.status != DETERRED)
        theft = created & incidents.deterrable[r.type]
        theft_days[d] = np.bincount(
            district.precinct_of_cell[r.cell[theft]], minlength=district.n_precincts
        )
    years = days // YEAR_DAYS
    weeks = YEAR_DAYS // WEEK_DAYS
    weekly = theft_days[: years * YEAR_DAYS].reshape(years, weeks, WEEK_DAYS, district.n_precincts)
    worst = weekly.sum(axis=2).max(axis=1).mean(axis=0) if years else None
    shares = breakdowns(records, incidents)["precincts"]
    pooled = concatenate_records(records)
    precinct = district.precinct_of_cell[pooled.cell]
    served = pooled.status == SERVED
    on_scene = served | (pooled.status == HANDED_OVER)
    table = {}
    for p, code in enumerate(district.precinct_codes):
        here_served = (precinct == p) & served
        table[code] = {
            "patrol_share": shares[code]["patrol_share"],
            "closure_rate": float(pooled.closed[here_served].mean()) if here_served.any() else None,
            "on_scene_calls_per_day": float(((precinct == p) & on_scene).sum()) / days,
            "thefts_per_week": float(theft_days[:, p].mean() * WEEK_DAYS),
            "worst_week_thefts": float(worst[p]) if years else None,
        }
    return table


def nearest_records(district: District, days: int, seed: int) -> list[EpisodeRecord]:
    """The ``nearest`` baseline (the district's "1+1" rule) on ``days`` seeded days.

    The days run a year at a time (one batch each, the policy seeded ``seed`` plus the
    year's first day), to bound memory.
    """
    seeds = day_seeds(seed, days)
    starts = range(0, days, YEAR_DAYS)
    return [
        record
        for s in starts
        for record in run_policy(district, NearestPolicy(seed + s), seeds[s : s + YEAR_DAYS])
    ]
