"""Where and when a policy is slow: its days broken down by precinct, hour, call type and cell.

Every breakdown is a pure function of the pooled :class:`EpisodeRecord` of a
policy's days, as the headline metrics are (:func:`~patrolmarl.envs.metrics.episode_metrics`):
response times are minutes from call creation to patrol arrival of street calls
reached by patrol, and "per day" figures divide by the number of days.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import EpisodeRecord, concatenate_records
from patrolmarl.envs.status import DETERRED, FUTURE, HANDED_OVER, SERVED


def breakdowns(records: list[EpisodeRecord], incidents: IncidentModel) -> dict:
    """The JSON-ready breakdowns of one policy's days.

    Returns
    -------
    dict
        ``precincts`` (code -> response mean/p90, thefts per day, workload
        minutes per day of the precinct's own units, patrol share),
        ``hours`` (24 rows: hour of day -> calls reached, response mean/p90),
        ``call_types`` (type -> calls per day, reached by patrol, response
        mean/p90, closure rate) and ``response_by_cell`` (``(C,)`` mean response
        per cell, None where no call was reached).
    """
    pooled = concatenate_records(records)
    days = len(records)
    district = incidents.district
    served = pooled.status == SERVED
    created = (pooled.status != FUTURE) & (pooled.status != DETERRED)
    response = pooled.arrival_time - pooled.time
    precinct = district.precinct_of_cell[pooled.cell]
    start_hour = district.config.simulation.start_hour
    hour = np.floor(start_hour + pooled.time / 60.0).astype(np.int64) % 24
    thefts = created & incidents.deterrable[pooled.type]
    handed = pooled.status == HANDED_OVER
    busy = pooled.unit_busy_minutes / days

    precincts = {}
    for p, code in enumerate(district.precinct_codes):
        here = precinct == p
        on_scene = int((here & (served | handed)).sum())
        precincts[code] = {
            **_response(response[here & served]),
            "thefts_per_day": float((here & thefts).sum()) / days,
            "workload_minutes_per_day": float(busy[district.unit_precinct == p].sum()),
            "patrol_share": float((here & served).sum()) / on_scene if on_scene else None,
        }
    hours = [{"hour": h, **_response(response[served & (hour == h)])} for h in range(24)]
    call_types = {}
    for t, name in enumerate(incidents.type_names):
        of_type = pooled.type == t
        reached = of_type & served
        call_types[name] = {
            "calls_per_day": float((of_type & created).sum()) / days,
            **_response(response[reached]),
            "closure_rate": float(pooled.closed[reached].mean()) if reached.any() else None,
        }
    return {
        "precincts": precincts,
        "hours": hours,
        "call_types": call_types,
        "response_by_cell": [None if np.isnan(x) else float(x) for x in _cell_means(pooled)],
    }


def response_by_cell(breakdown: dict) -> np.ndarray:
    """``(C,)`` mean response per cell of a :func:`breakdowns` result (NaN: no call reached)."""
    return np.array([np.nan if x is None else x for x in breakdown["response_by_cell"]])


def _response(times: np.ndarray) -> dict:
    """Calls reached, mean and p90 response of ``times`` (None for an empty set)."""
    if times.size == 0:
        return {"reached": 0, "response_mean": None, "response_p90": None}
    return {
        "reached": int(times.size),
        "response_mean": float(times.mean()),
        "response_p90": float(np.quantile(times, 0.9)),
    }


def _cell_means(pooled: EpisodeRecord) -> np.ndarray:
    """``(C,)`` mean response of the calls reached in each cell (NaN where none)."""
    served = pooled.status == SERVED
    cells = pooled.cell[served]
    n_cells = pooled.occupied_steps.shape[0]
    times = (pooled.arrival_time - pooled.time)[served]
    total = np.bincount(cells, weights=times, minlength=n_cells)
    count = np.bincount(cells, minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)
