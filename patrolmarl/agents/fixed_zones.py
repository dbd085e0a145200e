"""The fixed-zone partition: each precinct split among the units that patrol it, one beat each."""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.district import District


def unit_precincts_for_beats(district: District) -> np.ndarray:
    """``(N,)`` the precinct in which each unit gets a beat.

    Precinct units keep their precinct; a station's units are dealt in turn to
    the station's bound precincts (the pre-reform model gives every group one zone).
    """
    result = district.unit_precinct.copy()
    dealt: dict[int, int] = {}
    for n, station in enumerate(district.unit_station):
        if station < 0:
            continue
        bound = np.flatnonzero(district.station_precincts[station])
        turn = dealt.get(int(station), 0)
        result[n] = bound[turn % bound.size]
        dealt[int(station)] = turn + 1
    return result


def fixed_zone_beats(district: District, weights: np.ndarray) -> np.ndarray:
    """``(N, C)`` bool: each unit's beat, a compact share of its precinct.

    Each precinct's cells are cut among its units by recursive bisection along
    the longer axis, balancing ``weights`` (e.g. daily street-call intensity).
    """
    beats = np.zeros((district.n_units, district.n_cells), dtype=bool)
    owner = unit_precincts_for_beats(district)
    for p in range(district.n_precincts):
        units = np.flatnonzero(owner == p)
        if units.size == 0:
            continue
        cells = np.flatnonzero(district.precinct_of_cell == p)
        for unit, part in zip(units, _bisect(cells, weights, units.size, district), strict=True):
            beats[unit, part] = True
    return beats


def _bisect(cells: np.ndarray, weights: np.ndarray, k: int, district: District) -> list[np.ndarray]:
    """Cut ``cells`` into ``k`` parts of balanced weight with straight cuts (whole rows or cols).

    Each cut runs between two rows (or columns) across the longer axis, so parts
    of an orthogonally convex precinct stay connected. With fewer cells than
    parts, the parts are single cells dealt in turn (units share cells).
    """
    if k == 1:
        return [cells]
    if cells.size < k:
        return [cells[[i % cells.size]] for i in range(k)]
    rc = district.cell_rc[cells]
    extent = rc.max(axis=0) - rc.min(axis=0)
    axis = 0 if extent[0] >= extent[1] else 1
    order = np.lexsort((rc[:, 1 - axis], rc[:, axis]))
    cells, line = cells[order], rc[order, axis]
    k_first = k // 2
    cum = np.cumsum(weights[cells])
    # Candidate cuts: where the row (or column) changes, leaving enough cells each side.
    cuts = np.flatnonzero(np.diff(line)) + 1
    cuts = cuts[(cuts >= k_first) & (cuts <= cells.size - (k - k_first))]
    if cuts.size == 0:
        cuts = np.array([k_first])
    target = cum[-1] * k_first / k
    cut = int(cuts[np.argmin(np.abs(cum[cuts - 1] - target))])
    return _bisect(cells[:cut], weights, k_first, district) + _bisect(
        cells[cut:], weights, k - k_first, district
    )
