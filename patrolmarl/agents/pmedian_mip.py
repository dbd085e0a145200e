"""The heterogeneous p-median as a mixed-integer program, solved by HiGHS.

Units of the same vehicle type are interchangeable, so the model is aggregated
by type: ``y[t, j] = 1`` opens site ``j`` for a unit of type ``t`` (at most
``N_t`` sites per type; a second unit of one type on one site never helps).
Assignment uses the radius formulation (Elloumi 2010): for each demand cell
``i`` with the distinct travel levels ``D_1 < ... < D_K`` below a cap ``R``,
``z_k = 1`` when no open site reaches ``i`` within ``D_k``:

    minimise  sum_i w_i (D_1 + sum_k (D_{k+1} - D_k) z_k),   D_{K+1} = R
    z_1 + sum_{f: d(f,i) = D_1} y_f >= 1
    z_k + sum_{f: d(f,i) = D_k} y_f >= z_{k-1}          (k >= 2)

The cap prices every travel above ``R`` at ``R``, so the capped optimum is at
most the true optimum: HiGHS' dual bound of the capped model is a proven lower
bound of the uncapped problem, whatever ``R`` is (the cap only makes the model
smaller). HiGHS works to feasibility tolerances, so its bound is lowered by a
relative ``BOUND_SAFETY`` before it is claimed. Placements found are re-priced
with their true travel by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

# Relative margin taken off HiGHS' dual bound: its row and integrality tolerances
# (1e-7 and 1e-6 by default) let the reported bound exceed the optimum by ~1e-7.
BOUND_SAFETY = 1e-6


@dataclass(frozen=True)
class MipOutcome:
    """What HiGHS proved and found within its limits.

    Attributes
    ----------
    sites
        ``(N,)`` a site per unit from HiGHS' best placement, or None if it found none.
    lower_bound
        HiGHS' dual bound (expected travel, minutes), valid for the uncapped problem.
    optimal
        True when HiGHS closed its gap to the requested tolerance.
    """

    sites: np.ndarray | None
    lower_bound: float
    optimal: bool


def solve_pmedian_mip(
    weights: np.ndarray,
    travel: np.ndarray,
    unit_vehicle: np.ndarray,
    cap: float,
    time_limit: float,
    mip_gap: float,
) -> MipOutcome:
    """Solve the capped radius formulation with ``scipy.optimize.milp`` (HiGHS).

    Parameters
    ----------
    weights
        ``(C,)`` demand weights summing to 1.
    travel
        ``(V, C, C)`` travel minutes from site to demand cell per vehicle type.
    unit_vehicle
        ``(N,)`` vehicle type of each unit.
    cap
        Travel minutes above which travel is priced at ``cap`` (see module notes).
    time_limit, mip_gap
        HiGHS' wall-clock limit (seconds) and relative gap tolerance.
    """
    types, counts = np.unique(unit_vehicle, return_counts=True)
    n_sites = travel.shape[1]
    facility_travel = travel[types].reshape(types.size * n_sites, -1)  # (F, C)
    n_facilities = facility_travel.shape[0]
    rows, cols, coeffs, lower, z_cost = [], [], [], [], []
    constant = 0.0
    n_vars = n_facilities
    n_rows = 0
    for i in np.flatnonzero(weights > 0):
        reach = facility_travel[:, i]
        within = np.flatnonzero(reach < cap)
        levels, level_of = np.unique(reach[within], return_inverse=True)
        k = levels.size
        if k == 0:
            constant += weights[i] * cap
            continue
        constant += weights[i] * levels[0]
        z = n_vars + np.arange(k)
        n_vars += k
        z_cost.append(weights[i] * np.diff(np.append(levels, cap)))
        rows += [n_rows + level_of, n_rows + np.arange(k), n_rows + np.arange(1, k)]
        cols += [within, z, z[:-1]]
        coeffs += [np.ones(within.size), np.ones(k), -np.ones(k - 1)]
        lower.append(np.r_[1.0, np.zeros(k - 1)])
        n_rows += k
    if n_rows == 0:  # every demand cell is beyond the cap from every site
        return MipOutcome(sites=None, lower_bound=constant, optimal=False)
    linking = coo_matrix(
        (np.concatenate(coeffs), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_vars),
    )
    per_type = coo_matrix(
        (
            np.ones(n_facilities),
            (np.repeat(np.arange(types.size), n_sites), np.arange(n_facilities)),
        ),
        shape=(types.size, n_vars),
    )
    objective = np.concatenate([np.zeros(n_facilities), *z_cost])
    result = milp(
        objective,
        integrality=np.r_[np.ones(n_facilities), np.zeros(n_vars - n_facilities)],
        bounds=Bounds(0.0, 1.0),
        constraints=[
            LinearConstraint(linking.tocsr(), np.concatenate(lower), np.inf),
            LinearConstraint(per_type.tocsr(), 0.0, counts),
        ],
        options={"time_limit": float(time_limit), "mip_rel_gap": float(mip_gap), "disp": False},
    )
    dual = getattr(result, "mip_dual_bound", None)
    proven = dual is not None and np.isfinite(dual)
    bound = (constant + float(dual)) * (1.0 - BOUND_SAFETY) if proven else 0.0
    if result.x is None:
        return MipOutcome(sites=None, lower_bound=bound, optimal=False)
    opened = np.round(result.x[:n_facilities]).astype(bool).reshape(types.size, n_sites)
    return MipOutcome(
        sites=_unit_sites(opened, types, unit_vehicle),
        lower_bound=bound,
        optimal=result.status == 0,
    )


def _unit_sites(opened: np.ndarray, types: np.ndarray, unit_vehicle: np.ndarray) -> np.ndarray:
    """Give each unit one of its type's open sites (spare units share the first one)."""
    sites = np.zeros(unit_vehicle.size, dtype=np.int64)
    for t, v in enumerate(types):
        units = np.flatnonzero(unit_vehicle == v)
        open_sites = np.flatnonzero(opened[t])
        if open_sites.size == 0:
            open_sites = np.zeros(1, dtype=np.int64)
        sites[units] = np.resize(open_sites, units.size)
    return sites
