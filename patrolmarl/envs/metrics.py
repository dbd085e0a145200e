"""Episode metrics, computed from one district-day's records.

The batched core and the plain reference both produce an :class:`EpisodeRecord`;
the metrics are a pure function of it, so equal records mean equal metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.status import ASSIGNED, DETERRED, FUTURE, HANDED_OVER, PENDING, SERVED


@dataclass
class EpisodeRecord:
    """Everything the metrics need of one district-day.

    Per-call arrays have one entry per call of the day (theft candidates
    included); times are minutes from the episode start, NaN where the event
    did not happen. ``theft_chance`` is a theft candidate's chance of becoming a
    theft as it arrived (the deterrence factor of its cell then; NaN otherwise).
    """

    time: np.ndarray
    type: np.ndarray
    cell: np.ndarray
    status: np.ndarray
    unit: np.ndarray
    dispatch_time: np.ndarray
    arrival_time: np.ndarray
    by_fallback: np.ndarray
    closed: np.ndarray
    follow_up: np.ndarray
    pool_start: np.ndarray
    theft_chance: np.ndarray
    unit_busy_minutes: np.ndarray
    unit_calls_served: np.ndarray
    covered_steps: np.ndarray
    occupied_steps: np.ndarray
    steps: int
    step_minutes: float

    def equals(self, other: EpisodeRecord) -> list[str]:
        """Names of the fields that differ (NaNs compare equal); empty if identical."""
        diff = []
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                    diff.append(f.name)
            elif a != b:
                diff.append(f.name)
        return diff


def concatenate_records(records: list[EpisodeRecord]) -> EpisodeRecord:
    """Pool several district-days into one record (calls joined, counters summed).

    :func:`episode_metrics` of the result gives pooled metrics over all days;
    its counts are totals over the days.
    """
    first = records[0]
    per_call = {
        f.name: np.concatenate([getattr(r, f.name) for r in records])
        for f in fields(first)
        if isinstance(getattr(first, f.name), np.ndarray) and f.name not in _PER_UNIT_OR_CELL
    }
    return EpisodeRecord(
        **per_call,
        **{name: sum(getattr(r, name) for r in records) for name in _PER_UNIT_OR_CELL},
        steps=sum(r.steps for r in records),
        step_minutes=first.step_minutes,
    )


_PER_UNIT_OR_CELL = ("unit_busy_minutes", "unit_calls_served", "covered_steps", "occupied_steps")


def day_parts(record: EpisodeRecord, incidents: IncidentModel) -> dict[str, tuple[float, float]]:
    """The numerator and denominator of each ratio metric of one district-day.

    A ratio metric pooled over days is the sum of its numerators over the sum of
    its denominators, so days with more calls weigh more. Counts per day
    (``thefts``, ``fallback_dispatches``) and ``visibility`` (a per-day share)
    have denominator 1.

    Returns
    -------
    dict
        ``response_mean`` and ``travel_mean`` (minutes, street calls reached by
        patrol), ``within_5_min``, ``within_10_min``, ``closure_rate``,
        ``thefts``, ``expected_thefts`` (the candidates' theft chances summed:
        the thefts expected where the units stood, without the draw's noise),
        ``visibility`` and ``fallback_dispatches``, each as
        ``(numerator, denominator)``.
    """
    status = record.status
    created = (status != FUTURE) & (status != DETERRED)
    served = status == SERVED
    response = (record.arrival_time - record.time)[served]
    travel = (record.arrival_time - record.dispatch_time)[served]
    reached = float(served.sum())
    traffic = incidents.district.street_traffic
    share = traffic / traffic.sum() if traffic.sum() > 0 else traffic
    return {
        "response_mean": (float(response.sum()), reached),
        "travel_mean": (float(travel.sum()), reached),
        "within_5_min": (float((response <= 5.0).sum()), reached),
        "within_10_min": (float((response <= 10.0).sum()), reached),
        "closure_rate": (float(record.closed[served].sum()), reached),
        "thefts": (float((created & incidents.deterrable[record.type]).sum()), 1.0),
        "expected_thefts": (float(np.nansum(record.theft_chance)), 1.0),
        "visibility": (float(record.covered_steps @ share) / max(record.steps, 1), 1.0),
        "fallback_dispatches": (float(record.by_fallback.sum()), 1.0),
    }


def episode_metrics(record: EpisodeRecord, incidents: IncidentModel) -> dict[str, float | dict]:
    """The metrics of one district-day.

    The ratio metrics are those of :func:`day_parts`, numerator over denominator.

    Returns
    -------
    dict
        ``calls_by_type`` (created calls of each type), ``calls_created``,
        ``street_calls``, ``served_by_patrol``, ``waiting_at_end``,
        ``handed_over``, ``response_mean/p50/p90`` (minutes, street calls
        reached by patrol), ``within_5_min``/``within_10_min`` (shares),
        ``thefts``, ``expected_thefts``, ``thefts_deterred``, ``closure_rate`` (on scene, patrol),
        ``patrol_share`` (patrol-served / all on-scene calls), ``follow_ups``,
        ``visibility`` (street-traffic weighted share of cell-minutes within
        sight of a unit), ``workload_minutes`` (per unit), ``workload_cv``,
        ``fallback_dispatches``, ``fallback_share`` and ``precinct_wait_mean``.
    """
    parts = day_parts(record, incidents)
    status = record.status
    created = (status != FUTURE) & (status != DETERRED)
    patrol = incidents.patrol_type[record.type]
    served = status == SERVED
    response = (record.arrival_time - record.time)[served]
    delay = (record.dispatch_time - record.time)[served]
    handed = status == HANDED_OVER
    pooled = ~np.isnan(record.pool_start)
    pool_release = np.where(record.follow_up, np.nan, record.time)
    pool_wait = (record.pool_start - pool_release)[pooled & ~record.follow_up]
    workload = record.unit_busy_minutes
    on_scene = int(served.sum() + handed.sum())
    return {
        "calls_by_type": {
            name: int((created & (record.type == t)).sum())
            for t, name in enumerate(incidents.type_names)
        },
        "calls_created": int(created.sum()),
        "street_calls": int((created & patrol).sum()),
        "served_by_patrol": int(served.sum()),
        "waiting_at_end": int(((status == PENDING) | (status == ASSIGNED)).sum()),
        "handed_over": int(handed.sum()),
        "response_mean": _ratio(parts["response_mean"]),
        "response_p50": _quantile(response, 0.5),
        "response_p90": _quantile(response, 0.9),
        "travel_mean": _ratio(parts["travel_mean"]),
        "dispatch_delay_mean": _mean(delay),
        "within_5_min": _ratio(parts["within_5_min"]),
        "within_10_min": _ratio(parts["within_10_min"]),
        "thefts": int(parts["thefts"][0]),
        "expected_thefts": parts["expected_thefts"][0],
        "thefts_deterred": int((status == DETERRED).sum()),
        "closure_rate": _ratio(parts["closure_rate"]),
        "patrol_share": float(served.sum() / on_scene) if on_scene else float("nan"),
        "follow_ups": int(record.follow_up.sum()),
        "visibility": _ratio(parts["visibility"]),
        "workload_minutes": [float(w) for w in workload],
        "workload_cv": float(workload.std() / workload.mean()) if workload.mean() > 0 else 0.0,
        "fallback_dispatches": int(parts["fallback_dispatches"][0]),
        "fallback_share": _mean(record.by_fallback[served | (status == ASSIGNED)]),
        "precinct_wait_mean": _mean(pool_wait),
    }


def _ratio(part: tuple[float, float]) -> float:
    numerator, denominator = part
    return numerator / denominator if denominator else float("nan")


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else float("nan")


def _quantile(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q)) if x.size else float("nan")
