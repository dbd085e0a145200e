"""The p-median of call intensity for a fleet of mixed vehicles, with a proven bound.

Placing N units (each with its own vehicle's travel matrix) so as to minimise
the expected travel time to the next call is a heterogeneous p-median:

    minimise  sum_i w_i * min_n T[v(n)][site_n, i]

The placement comes from greedy + vertex substitution (Teitz and Bart's
interchange, plus swaps of two units of different vehicle types), restarted
from the Lagrangian placement and from random kicks of a few units (seeded);
the lower bound from Lagrangian relaxation of the assignment
constraints (subgradient ascent). When that certified gap is above the
tolerance, HiGHS solves the mixed-integer program
(:mod:`patrolmarl.agents.pmedian_mip`) within a time limit, and its dual bound
and placement are kept where better. Every solution carries its proven gap.
Because calls arrive independently of where units are, the optimum for an
hour's intensity is also a lower bound on the mean travel time of any policy in
that hour (with all units idle and optimally placed).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from patrolmarl.agents.pmedian_mip import solve_pmedian_mip
from patrolmarl.agents.solution_cache import read_entry, write_entry

# Where a solution's lower bound comes from.
NO_DEMAND = "no demand"  # nothing to serve: every placement costs 0
LAGRANGIAN = "lagrangian"
HIGHS = "highs"
BOUND_SOURCES = frozenset({NO_DEMAND, LAGRANGIAN, HIGHS})
# Bump when the algorithm changes: cached bounds cannot be re-checked, only trusted
# from the solver version that proved them.
SOLVER_VERSION = 1


@dataclass(frozen=True)
class PMedianSettings:
    """How hard the solver works on one p-median (part of the solution cache's key).

    Attributes
    ----------
    interchange_rounds
        Passes of single-unit moves before the interchange gives up.
    bound_iterations
        Subgradient steps of the Lagrangian bound.
    kicks
        At most this many restarts of the interchange from the best placement
        with 1-4 units moved to random sites (seeded by ``seed``).
    kick_gap
        The restarts stop once the certified gap is at most this.
    gap_tolerance
        HiGHS is called only when the certified gap is above this.
    mip_time_limit
        HiGHS' time limit (seconds); 0 never calls it.
    mip_gap
        Relative gap at which HiGHS stops.
    time_limit
        Budget (seconds) of the whole solve: the first local search may use a
        third, the bound the next third, restarts and HiGHS the rest; each
        stage stops when its share is spent (the greedy pass, one interchange
        round and one bound step always complete), and the gap is reported as
        it then stands.
    seed
        Seed of the kicks.
    """

    interchange_rounds: int = 100
    bound_iterations: int = 600
    kicks: int = 150
    kick_gap: float = 0.005
    gap_tolerance: float = 0.01
    mip_time_limit: float = 60.0
    mip_gap: float = 1e-3
    time_limit: float = 120.0
    seed: int = 0


@dataclass(frozen=True)
class PMedianSolution:
    """Sites of each unit, the expected travel (minutes per call) and its proven lower bound.

    Attributes
    ----------
    sites
        ``(N,)`` each unit's site.
    objective
        Expected travel minutes per call with every unit idle at its site.
    lower_bound
        Proven lower bound on the optimum (``bound_source`` says how).
    solve_seconds
        Wall time of the solve.
    bound_source
        ``"lagrangian"``, ``"highs"`` (HiGHS' dual bound) or ``"no demand"``.
    """

    sites: np.ndarray
    objective: float
    lower_bound: float
    solve_seconds: float = 0.0
    bound_source: str = LAGRANGIAN

    @property
    def gap(self) -> float:
        """Relative optimality gap ``(objective - bound) / objective``."""
        return (self.objective - self.lower_bound) / self.objective if self.objective > 0 else 0.0


def solve_pmedian(
    weights: np.ndarray,
    travel: np.ndarray,
    unit_vehicle: np.ndarray,
    settings: PMedianSettings | None = None,
    idle_sites: np.ndarray | None = None,
) -> PMedianSolution:
    """Place units to minimise weighted travel to demand, with a proven gap.

    Parameters
    ----------
    weights
        ``(C,)`` non-negative demand weight of each cell (normalised inside).
    travel
        ``(V, C, C)`` travel minutes from site to demand cell per vehicle type.
    unit_vehicle
        ``(N,)`` vehicle type of each unit.
    settings
        Solver effort and limits (defaults: :class:`PMedianSettings`).
    idle_sites
        ``(N,)`` sites to keep when there is no demand at all (default: cell 0).

    Returns
    -------
    PMedianSolution
        Each unit's site, the weighted mean travel, and its proven lower bound.
    """
    started = time.perf_counter()
    settings = settings or PMedianSettings()
    unit_vehicle = np.asarray(unit_vehicle, dtype=np.int64)
    w = _demand_shares(weights)
    if w is None:
        sites = np.zeros(unit_vehicle.size, dtype=np.int64)
        if idle_sites is not None:
            sites = np.asarray(idle_sites, dtype=np.int64).copy()
        return PMedianSolution(sites, 0.0, 0.0, time.perf_counter() - started, NO_DEMAND)
    # A third of the budget for the first local search, a third for the bound, the rest after.
    search_deadline, bound_deadline, deadline = (
        started + settings.time_limit * share for share in (1 / 3, 2 / 3, 1.0)
    )
    demand = w > 0  # cells without demand add nothing to any placement's cost
    cost = travel[:, :, demand] * w[None, None, demand]  # (V, sites, demand cells)
    # The local searches compare placements in single precision (twice as fast);
    # every objective kept is recomputed in double.
    search = cost.astype(np.float32)
    rounds = settings.interchange_rounds
    sites = _greedy(search, unit_vehicle)
    sites = _interchange(search, unit_vehicle, sites, rounds, search_deadline)
    best = _assignment_cost(cost, unit_vehicle, sites)
    bound, relaxed_sites = _lagrangian_bound(
        cost, unit_vehicle, best, settings.bound_iterations, bound_deadline
    )
    sites, best = _keep_better(
        cost,
        unit_vehicle,
        (sites, best),
        _interchange(search, unit_vehicle, relaxed_sites, rounds, deadline),
    )
    rng = np.random.default_rng(settings.seed)
    sites, best = _kick_search(
        cost, search, unit_vehicle, (sites, best), bound, settings, rng, deadline
    )
    source = LAGRANGIAN
    remaining = deadline - time.perf_counter()
    if (
        (best - bound) > settings.gap_tolerance * best
        and settings.mip_time_limit > 0
        and remaining > 0
    ):
        outcome = solve_pmedian_mip(
            w,
            travel,
            unit_vehicle,
            cap=float(travel[unit_vehicle, sites].min(axis=0)[demand].max()),
            time_limit=min(settings.mip_time_limit, remaining),
            mip_gap=settings.mip_gap,
        )
        if outcome.lower_bound > bound:
            bound, source = outcome.lower_bound, HIGHS
        if outcome.sites is not None:
            polished = _interchange(search, unit_vehicle, outcome.sites, rounds, deadline)
            sites, best = _keep_better(cost, unit_vehicle, (sites, best), polished)
    return PMedianSolution(
        sites=sites,
        objective=best,
        lower_bound=min(bound, best),
        solve_seconds=time.perf_counter() - started,
        bound_source=source,
    )


def _demand_shares(weights: np.ndarray) -> np.ndarray | None:
    """Weights normalised to sum to 1, or None when they are all zero."""
    w = np.asarray(weights, dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("p-median weights must be finite and non-negative")
    total = w.sum()
    return w / total if total > 0 else None


def _assignment_cost(cost: np.ndarray, unit_vehicle: np.ndarray, sites: np.ndarray) -> float:
    return float(cost[unit_vehicle, sites].min(axis=0).sum())


def _keep_better(
    cost: np.ndarray,
    unit_vehicle: np.ndarray,
    incumbent: tuple[np.ndarray, float],
    candidate: np.ndarray,
) -> tuple[np.ndarray, float]:
    value = _assignment_cost(cost, unit_vehicle, candidate)
    return (candidate, value) if value < incumbent[1] - 1e-12 else incumbent


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
    search: np.ndarray,
    unit_vehicle: np.ndarray,
    sites: np.ndarray,
    max_rounds: int,
    deadline: float,
) -> np.ndarray:
    """Move one unit at a time to its best site (or swap two units of different
    vehicle types) until no such move improves.

    ``search`` is the (single-precision) cost; a move must gain a relative
    ``1e-5`` so that rounding cannot make it cycle. The first round always
    completes; later rounds only before ``deadline``.
    """
    sites = sites.copy()
    buffer = np.empty(search.shape[1:], dtype=search.dtype)
    for round_ in range(max_rounds):
        if round_ > 0 and time.perf_counter() > deadline:
            break
        improved = False
        for n, v in enumerate(unit_vehicle):
            others = np.arange(sites.size) != n
            without = search[unit_vehicle[others], sites[others]].min(axis=0, initial=np.inf)
            totals = np.minimum(without[None, :], search[v], out=buffer).sum(axis=1)
            j = int(np.argmin(totals))
            if totals[j] < totals[sites[n]] * (1 - 1e-5):
                sites[n] = j
                improved = True
        if not improved and not _swap_types(search, unit_vehicle, sites):
            break
    return sites


def _swap_types(search: np.ndarray, unit_vehicle: np.ndarray, sites: np.ndarray) -> bool:
    """Exchange the sites of the best improving pair of units of different types, in place."""
    current = search[unit_vehicle, sites].min(axis=0).sum()
    best_pair, best_value = None, current * (1 - 1e-5)
    for a, b in zip(*np.triu_indices(sites.size, k=1), strict=True):
        if unit_vehicle[a] == unit_vehicle[b] or sites[a] == sites[b]:
            continue
        trial = sites.copy()
        trial[a], trial[b] = sites[b], sites[a]
        value = search[unit_vehicle, trial].min(axis=0).sum()
        if value < best_value:
            best_pair, best_value = (a, b), value
    if best_pair is None:
        return False
    a, b = best_pair
    sites[a], sites[b] = sites[b], sites[a]
    return True


def _kick_search(
    cost: np.ndarray,
    search: np.ndarray,
    unit_vehicle: np.ndarray,
    incumbent: tuple[np.ndarray, float],
    bound: float,
    settings: PMedianSettings,
    rng: np.random.Generator,
    deadline: float,
) -> tuple[np.ndarray, float]:
    """Restart the interchange after moving 1-4 units to random sites; keep improvements."""
    sites, value = incumbent
    for kick in range(settings.kicks):
        if value - bound <= settings.kick_gap * value or time.perf_counter() > deadline:
            break
        trial = sites.copy()
        moved = rng.choice(sites.size, size=min(1 + kick % 4, sites.size), replace=False)
        trial[moved] = rng.integers(0, cost.shape[1], size=moved.size)
        trial = _interchange(search, unit_vehicle, trial, settings.interchange_rounds, deadline)
        sites, value = _keep_better(cost, unit_vehicle, (sites, value), trial)
    return sites, value


def _lagrangian_bound(
    cost: np.ndarray, unit_vehicle: np.ndarray, upper: float, iterations: int, deadline: float
) -> tuple[float, np.ndarray]:
    """Best Lagrangian lower bound by subgradient ascent (Polyak steps), and its placement.

    Relaxing "each demand cell is assigned once" with multipliers ``lam``:
    L(lam) = sum(lam) + sum over vehicle types v of the n_v most negative
    rho_{v,j} = sum_i min(0, cost[v, j, i] - lam_i). The sites achieving the
    best L form a placement (returned as a start for the interchange).
    """
    types, counts = np.unique(unit_vehicle, return_counts=True)
    type_cost = cost if np.array_equal(types, np.arange(cost.shape[0])) else cost[types]
    facilities = type_cost.reshape(-1, cost.shape[2])  # (T * sites, demand)
    second = min(1, facilities.shape[0] - 1)
    lam = np.partition(facilities, second, axis=0)[second].copy()  # start: 2nd-best service
    reduced = np.empty_like(type_cost)
    best, best_choice = -np.inf, None
    step_scale = 2.0
    stall = 0
    for _ in range(max(iterations, 1)):
        if time.perf_counter() > deadline and best_choice is not None:
            break
        np.subtract(type_cost, lam, out=reduced)
        np.minimum(reduced, 0.0, out=reduced)
        rho = reduced.sum(axis=2)
        value = float(lam.sum())
        covered = np.zeros(cost.shape[2])
        choice = []
        for t, n_units in enumerate(counts):
            k = min(n_units, rho.shape[1])  # a second unit on one site adds nothing
            chosen = np.argpartition(rho[t], k - 1)[:k]
            value += float(rho[t, chosen].sum())
            covered += (reduced[t, chosen] < 0).sum(axis=0)
            choice.append(chosen)
        if value > best + 1e-12:
            best, best_choice, stall = value, choice, 0
        else:
            stall += 1
            if stall >= 20:
                step_scale, stall = step_scale / 2.0, 0
        gradient = 1.0 - covered
        norm = float(gradient @ gradient)
        if norm == 0 or step_scale < 1e-5:
            break
        lam = np.maximum(lam + step_scale * (upper - value) / norm * gradient, 0.0)
    sites = np.zeros(unit_vehicle.size, dtype=np.int64)
    for v, chosen in zip(types, best_choice, strict=True):
        units = unit_vehicle == v
        sites[units] = np.resize(chosen, units.sum())
    return best, sites


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
    from_cache
        True when the solutions were read from the on-disk cache.
    """

    sites: np.ndarray
    solutions: tuple[PMedianSolution, ...]
    call_weights: np.ndarray
    from_cache: bool = False

    def mean_travel_bound(self) -> float:
        """Call-weighted proven lower bound on the mean travel time (minutes) of any policy."""
        return self._call_weighted([s.lower_bound for s in self.solutions])

    def mean_travel_at_sites(self) -> float:
        """Call-weighted mean travel time with all units idle at the hourly sites."""
        return self._call_weighted([s.objective for s in self.solutions])

    def max_gap(self) -> float:
        """The largest certified relative gap over the 24 hours."""
        return max(s.gap for s in self.solutions)

    def hourly_table(self) -> list[dict]:
        """Per hour: objective, proven bound, gap, solve seconds and where the bound comes from."""
        return [
            {
                "hour": h,
                "objective": s.objective,
                "lower_bound": s.lower_bound,
                "gap": s.gap,
                "solve_seconds": s.solve_seconds,
                "bound_source": s.bound_source,
            }
            for h, s in enumerate(self.solutions)
        ]

    def _call_weighted(self, values: list[float]) -> float:
        total = self.call_weights.sum()
        return float(np.asarray(values) @ self.call_weights / total) if total > 0 else 0.0


_MEMO: dict[str, HourlyPMedian] = {}


def hourly_pmedian(district, incidents, settings: PMedianSettings | None = None) -> HourlyPMedian:
    """The 24 hourly p-medians of street-call intensity, solved once per district and settings.

    Solutions are kept in memory and in the on-disk cache
    (:mod:`patrolmarl.agents.solution_cache`), keyed by the district config's
    SHA-256, the intensity array's bytes and the settings; an entry is used
    only if its shapes are right and its objectives reproduce from its sites.
    """
    from scipy.optimize import linear_sum_assignment

    settings = settings or PMedianSettings()
    street = np.ascontiguousarray(incidents.street_rate_per_minute(), dtype=np.float64)  # (24, C)
    travel = district.travel_minutes
    vehicle = district.unit_vehicle
    meta = {
        "kind": "hourly_pmedian",
        "solver_version": SOLVER_VERSION,
        "config_sha256": district.config_sha256,
        "intensity_sha256": hashlib.sha256(street.tobytes()).hexdigest(),
        "settings": asdict(settings),
    }
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    if key in _MEMO:
        return _MEMO[key]
    stored = read_entry("pmedian", key, meta)
    solutions = _validated(stored, street, travel, vehicle) if stored is not None else None
    from_cache = solutions is not None
    if solutions is None:
        solutions = tuple(
            solve_pmedian(street[h], travel, vehicle, settings, idle_sites=district.unit_start_cell)
            for h in range(24)
        )
        write_entry("pmedian", key, meta, _as_arrays(solutions))
    sites = []
    for sol in solutions:
        hour_sites = sol.sites.copy()
        if sites:
            previous = sites[-1]
            for v in np.unique(vehicle):
                units = np.flatnonzero(vehicle == v)
                cost = travel[v][previous[units][:, None], hour_sites[units][None, :]]
                _, col = linear_sum_assignment(cost)
                hour_sites[units] = sol.sites[units][col]
        sites.append(hour_sites)
    result = HourlyPMedian(
        sites=np.array(sites),
        solutions=solutions,
        call_weights=street.sum(axis=1) * 60.0,
        from_cache=from_cache,
    )
    _MEMO[key] = result
    return result


def _as_arrays(solutions: tuple[PMedianSolution, ...]) -> dict[str, np.ndarray]:
    return {
        "sites": np.array([s.sites for s in solutions], dtype=np.int64),
        "objective": np.array([s.objective for s in solutions]),
        "lower_bound": np.array([s.lower_bound for s in solutions]),
        "solve_seconds": np.array([s.solve_seconds for s in solutions]),
        "bound_source": np.array([s.bound_source for s in solutions]),
    }


def _validated(
    stored: dict[str, np.ndarray], street: np.ndarray, travel: np.ndarray, vehicle: np.ndarray
) -> tuple[PMedianSolution, ...] | None:
    """The cached solutions if shapes, values and objectives check out, else None."""
    hours, n_cells = street.shape
    shapes = {
        "sites": (hours, vehicle.size),
        "objective": (hours,),
        "lower_bound": (hours,),
        "solve_seconds": (hours,),
        "bound_source": (hours,),
    }
    if any(
        stored.get(name) is None or stored[name].shape != shape for name, shape in shapes.items()
    ):
        return None
    sites, objective, bound = stored["sites"], stored["objective"], stored["lower_bound"]
    if sites.dtype.kind not in "iu" or sites.min() < 0 or sites.max() >= n_cells:
        return None
    numbers = np.concatenate([objective, bound, stored["solve_seconds"]])
    if numbers.dtype.kind != "f" or not np.isfinite(numbers).all():
        return None
    if stored["bound_source"].dtype.kind != "U" or not set(stored["bound_source"]) <= BOUND_SOURCES:
        return None
    if (bound < 0).any() or (bound > objective * (1 + 1e-12)).any():
        return None
    for h in range(hours):
        w = _demand_shares(street[h])
        achieved = 0.0 if w is None else float((travel[vehicle, sites[h]].min(axis=0) * w).sum())
        if not np.isclose(achieved, objective[h], rtol=1e-9, atol=1e-12):
            return None
    return tuple(
        PMedianSolution(
            sites=sites[h].astype(np.int64),
            objective=float(objective[h]),
            lower_bound=float(bound[h]),
            solve_seconds=float(stored["solve_seconds"][h]),
            bound_source=str(stored["bound_source"][h]),
        )
        for h in range(hours)
    )
