"""Candidate posts of the macro actions: per hour, the p-median sites, the theft-aware posts
and the busiest cells, deduplicated, a fixed number of them."""

from __future__ import annotations

import numpy as np

from patrolmarl.agents.pmedian import hourly_pmedian
from patrolmarl.agents.theft_posts import DEFAULT_THEFT_WEIGHT, hourly_theft_posts
from patrolmarl.envs.dispatch_rule import HOURS
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel


def candidate_posts(
    district: District,
    incidents: IncidentModel,
    n_posts: int | None = None,
    theft_weight: float = DEFAULT_THEFT_WEIGHT,
) -> np.ndarray:
    """``(24, P)`` candidate cells per clock hour, ``P = n_posts`` (default twice the units).

    Each hour lists, first occurrence kept: the hour's p-median sites
    (:func:`~patrolmarl.agents.pmedian.hourly_pmedian`), its theft-aware posts at
    ``theft_weight`` (:func:`~patrolmarl.agents.theft_posts.hourly_theft_posts`,
    uncertified), then the cells by falling patrol-call rate (ties: lower cell),
    cut at ``P``. Deterministic; both solutions are cached.

    Raises
    ------
    ValueError
        If ``n_posts`` is not between 1 and the number of cells.
    """
    count = 2 * district.n_units if n_posts is None else n_posts
    if int(count) != count or not 1 <= count <= district.n_cells:
        raise ValueError(f"n_posts must be an integer in [1, {district.n_cells}], got {count!r}")
    pmedian = hourly_pmedian(district, incidents).sites
    theft = hourly_theft_posts(district, incidents, theft_weight, certify=False).sites
    busiest = np.argsort(-incidents.street_rate_per_minute(), axis=1, kind="stable")
    rows = []
    for h in range(HOURS):
        ordered = np.concatenate([pmedian[h], theft[h], busiest[h]])
        _, first = np.unique(ordered, return_index=True)
        rows.append(ordered[np.sort(first)][: int(count)])
    return np.array(rows, dtype=np.int64)
