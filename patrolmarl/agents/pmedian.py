"""The p-median of call intensity for a fleet of mixed vehicles, with a certified gap.

Placing N units (each with its own vehicle's travel matrix) so as to minimise
the expected travel time to the next call is a heterogeneous p-median:

    minimise  sum_i w_i * min_n T[v(n)][site_n, i]

It is solved by vertex substitution (Teitz and Bart's interchange, started from
a greedy placement) and bounded below by Lagrangian relaxation of the
assignment constraints (subgradient ascent), so every solution carries its
optimality gap. Because calls arrive independently of where units are, the
optimum for an hour's intensity is also a lower bound on the mean travel time
of any policy in that hour (with all units idle and optimally placed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PMedianSolution:
    """Sites of each unit, the expected travel (minutes per call) and its lower bound."""

    sites: np.ndarray
    objective: float
    lower_bound: float

    @property
    def gap(self) -> float:
        """Relative optimality gap ``(objective - bound) / objective``."""
        return (self.objective - self.lower_bound) / self.objective if self.objective > 0 else 0.0


def solve_pmedian(
    weights: np.ndarray,
    travel: np.ndarray,
    unit_vehicle: np.ndarray,
    max_rounds: int = 100,
    bound_iterations: int = 150,
) -> PMedianSolution:
    """Place units to minimise weighted travel to demand.

    Parameters
    ----------
    weights
        ``(C,)`` demand weight of each cell (normalised inside to sum to 1).
    travel
        ``(V, C, C)`` travel minutes from site to demand cell per vehicle type.
    unit_vehicle
        ``(N,)`` vehicle type of each unit.

    Returns
    -------
    PMedianSolution
        Each unit's site, the weighted mean travel, and a Lagrangian lower bound.
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    cost = travel * w[None, None, :]  # (V, sites, demand)
    sites = _greedy(cost, unit_vehicle)
    sites = _interchange(cost, unit_vehicle, sites, max_rounds)
    objective = float(_assignment_cost(cost, unit_vehicle, sites))
    bound = _lagrangian_bound(cost, unit_vehicle, objective, bound_iterations)
    return PMedianSolution(sites=sites, objective=objective, lower_bound=min(bound, objective))


def _assignment_cost(cost: np.ndarray, unit_vehicle: np.ndarray, sites: np.ndarray) -> float:
    return cost[unit_vehicle, sites].min(axis=0).sum()


def _greedy(cost: np.ndarray, unit_vehicle: np.ndarray) -> np.ndarray:
    """Add units one at a time, each at the site that lowers the cost most."""
    best = np.full(cost.shape[2], np.inf)
    sites = np.zeros(unit_vehicle.shape[0], dtype=np.int64)
    for n, v in enumerate(unit_vehicle):
        totals = np.minimum(best[None, :], cost[v]).sum(axis=1)
        sites[n] = int(np.argmin(totals))
        best = np.minimum(best, cost[v, sites[n]])
    return sites


def _interchange(
    cost: np.ndarray, unit_vehicle: np.ndarray, sites: np.ndarray, max_rounds: int
) -> np.ndarray:
    """Move one unit at a time to its best site until no single move improves."""
    sites = sites.copy()
    for _ in range(max_rounds):
        improved = False
        for n, v in enumerate(unit_vehicle):
            others = np.delete(np.arange(sites.size), n)
            without = cost[unit_vehicle[others], sites[others]].min(axis=0)
            totals = np.minimum(without[None, :], cost[v]).sum(axis=1)
            j = int(np.argmin(totals))
            if totals[j] < totals[sites[n]] - 1e-12:
                sites[n] = j
                improved = True
        if not improved:
            break
    return sites


def _lagrangian_bound(
    cost: np.ndarray, unit_vehicle: np.ndarray, upper: float, iterations: int
) -> float:
    """Best Lagrangian lower bound found by subgradient ascent (Polyak steps).

    Relaxing "each demand cell is assigned once" with multipliers ``lam``:
    L(lam) = sum(lam) + sum over vehicle types v of the n_v most negative
    rho_{v,j} = sum_i min(0, cost[v, j, i] - lam_i).
    """
    types, counts = np.unique(unit_vehicle, return_counts=True)
    lam = cost[types].min(axis=(0, 1)).copy()
    best = -np.inf
    step_scale = 2.0
    stall = 0
    for _ in range(iterations):
        reduced = np.minimum(cost[types] - lam[None, None, :], 0.0)  # (T, sites, demand)
        rho = reduced.sum(axis=2)
        value = lam.sum()
        covered = np.zeros(cost.shape[2])
        for t, n_units in enumerate(counts):
            chosen = np.argpartition(rho[t], n_units - 1)[:n_units]
            value += rho[t, chosen].sum()
            covered += (reduced[t, chosen] < 0).sum(axis=0)
        if value > best + 1e-12:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 10:
                step_scale, stall = step_scale / 2.0, 0
        gradient = 1.0 - covered
        norm = float(gradient @ gradient)
        if norm == 0 or step_scale < 1e-4:
            break
        lam = np.maximum(lam + step_scale * (upper - value) / norm * gradient, 0.0)
    return float(best)


@dataclass(frozen=True)
class HourlyPMedian:
    """The p-median of each hour's street-call intensity, units kept near their last site.

    Attributes
    ----------
    sites
        ``(24, N)`` each unit's site per hour; within a vehicle type, units are
        matched to the hour's sites so as to move least from the previous hour.
    solutions
        The 24 hourly :class:`PMedianSolution` (objective = expected travel
        minutes per call with all units idle at the sites).
    call_weights
        ``(24,)`` expected street calls in each hour (to average bounds by hour).
    """

    sites: np.ndarray
    solutions: tuple[PMedianSolution, ...]
    call_weights: np.ndarray

    def mean_travel_bound(self) -> float:
        """Call-weighted lower bound on the mean travel time (minutes) of any policy."""
        bounds = np.array([s.lower_bound for s in self.solutions])
        return float(bounds @ self.call_weights / self.call_weights.sum())

    def mean_travel_at_sites(self) -> float:
        """Call-weighted mean travel time with all units idle at the hourly sites."""
        values = np.array([s.objective for s in self.solutions])
        return float(values @ self.call_weights / self.call_weights.sum())


_HOURLY_CACHE: dict[str, HourlyPMedian] = {}


def hourly_pmedian(district, incidents) -> HourlyPMedian:
    """Solve (once per district config) the 24 hourly p-medians of street-call intensity."""
    from scipy.optimize import linear_sum_assignment

    key = district.config.model_dump_json()
    if key in _HOURLY_CACHE:
        return _HOURLY_CACHE[key]
    street = incidents.street_rate_per_minute()  # (24, C)
    travel = district.travel_minutes
    vehicle = district.unit_vehicle
    solutions, sites = [], []
    for h in range(24):
        sol = solve_pmedian(street[h], travel, vehicle)
        hour_sites = sol.sites.copy()
        if sites:
            previous = sites[-1]
            for v in np.unique(vehicle):
                units = np.flatnonzero(vehicle == v)
                cost = travel[v][previous[units][:, None], hour_sites[units][None, :]]
                _, col = linear_sum_assignment(cost)
                hour_sites[units] = sol.sites[units][col]
        solutions.append(sol)
        sites.append(hour_sites)
    result = HourlyPMedian(
        sites=np.array(sites), solutions=tuple(solutions), call_weights=street.sum(axis=1) * 60.0
    )
    _HOURLY_CACHE[key] = result
    return result
