"""Theft-aware posts: where parked units minimise response minutes + lambda x thefts.

Units parked at posts build the simulator's presence field: each step it decays
by ``d = 0.5 ** (step / half_life)`` and a unit adds ``step`` patrol-minutes to
its cell, so a parked unit holds ``kappa = step / (1 - d)`` patrol-minutes there
in the steady state. Theft in cell ``c`` is thinned by the deterrence factor
``f(q_c)`` of the nearby presence ``q = kappa * A y`` (``A``: own cell plus
``neighbour_weight`` times the 4 neighbours; ``y``: units per cell), exactly the
law of :func:`patrolmarl.envs.coverage.deterrence_factor`. An hour's objective,
in response-minutes per hour, is

    Z(s) = sum_i w_i min_n T[v(n)][s_n, i]  +  lambda * sum_c theta_c f(q_c)

with ``w`` the expected street calls per hour of each cell (so the first term is
the hour's expected travel minutes with every unit idle at its post), ``theta``
the undeterred theft candidates per hour and ``lambda`` in response-minutes per
theft. Summed over the hours it is minutes per day, the planner's objective.

Solving: the better of two starts (the hour's p-median sites and a greedy
placement), each improved by local search (move one unit; swap the posts of two
units of different vehicles) until no move helps.
Certifying: both terms are complements of monotone submodular benefits over
(unit, site) pairs (coverage, and a concave function of a modular presence), so
two lower bounds hold for every placement, repeated sites included:

- Lagrangian: relax "each call cell is served once" (multipliers ``mu``) and the
  link ``q = kappa A y`` (multipliers ``nu <= 0``, with ``0 <= q_c <= kappa N``);
  the relaxation splits into a choice of sites per vehicle type and one ``q_c``
  per cell, each bounded exactly, so any ``(mu, nu)`` gives a bound (found by
  subgradient ascent, both gradients counted in units).
- Nemhauser-Wolsey: for submodular monotone benefit ``F`` and the solution
  ``S``, ``F(OPT) <= F(S) + sum_n max_s gain_{v(n), s}(S)``, the gain of one
  extra unit of unit n's vehicle at site s.

The solution's ``lower_bound`` is the larger of the two; so every hour's
optimality gap is proven, not estimated.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from patrolmarl.agents.movement import moves_toward
from patrolmarl.agents.solution_cache import read_entry, write_entry
from patrolmarl.envs.clock import clock_minute
from patrolmarl.envs.config import Deterrence
from patrolmarl.envs.coverage import deterrence_factor
from patrolmarl.envs.dispatch_rule import NEAREST, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.sim_view import SimView

# The training reward's theft weight: a theft costs as much as 60 response-minutes.
DEFAULT_THEFT_WEIGHT = 60.0
_RELATIVE_TOLERANCE = 1e-9


def parked_presence(district: District) -> float:
    """Steady-state patrol-minutes a unit parked in a cell holds there (``step / (1 - d)``)."""
    sim = district.config.simulation
    decay = 0.5 ** (sim.step_minutes / district.config.deterrence.half_life_minutes)
    return sim.step_minutes / (1.0 - decay)


def minutes_per_hour(district: District) -> np.ndarray:
    """``(24,)`` minutes of the episode falling in each clock hour."""
    sim = district.config.simulation
    start = clock_minute(sim, 0.0)
    end = start + sim.episode_minutes
    edges = np.arange(np.floor(start / 60.0) * 60.0, end, 60.0)
    overlap = np.minimum(edges + 60.0, end) - np.maximum(edges, start)
    minutes = np.zeros(24)
    np.add.at(minutes, (edges // 60.0).astype(np.int64) % 24, overlap)
    return minutes


@dataclass(frozen=True)
class PostProblem:
    """One hour's placement: weights, travel and the deterrence law (see the module doc).

    Attributes
    ----------
    call_weight
        ``(C,)`` expected street calls per hour of each cell.
    theft_rate
        ``(C,)`` undeterred theft candidates per hour of each cell.
    travel
        ``(V, C, C)`` travel minutes from site to call cell per vehicle type.
    theft_weight
        ``lambda``, response-minutes per theft.
    unit_presence
        ``kappa``, a parked unit's steady-state patrol-minutes.
    footprint, footprint_weight
        ``(C, 5)`` cells whose nearby presence a unit at each site raises (own
        cell first, padded with the own cell at weight 0) and the weights of ``A``.
    deterrence
        The district's deterrence parameters.
    """

    call_weight: np.ndarray
    theft_rate: np.ndarray
    travel: np.ndarray
    theft_weight: float
    unit_presence: float
    footprint: np.ndarray
    footprint_weight: np.ndarray
    deterrence: Deterrence

    @cached_property
    def cost(self) -> np.ndarray:
        """``(V, C, C)`` expected travel minutes per hour from each site to each call cell."""
        return self.travel * self.call_weight[None, None, :]

    @cached_property
    def _totals_memo(self) -> dict[bytes, np.ndarray]:
        """Site totals already computed, by their exact inputs (see :meth:`site_totals`)."""
        return {}

    @classmethod
    def for_hour(
        cls, district: District, incidents: IncidentModel, hour: int, theft_weight: float
    ) -> PostProblem:
        """The problem of one hour of day of a district."""
        street = incidents.street_rate_per_minute()[hour] * 60.0
        theft = incidents.rate_per_minute[hour, incidents.deterrable, :].sum(axis=0) * 60.0
        nb = district.neighbour
        cells = np.arange(district.n_cells)
        weight = district.config.deterrence.neighbour_weight
        footprint = np.concatenate([cells[:, None], np.where(nb >= 0, nb, cells[:, None])], axis=1)
        footprint_weight = np.concatenate(
            [np.ones((cells.size, 1)), np.where(nb >= 0, weight, 0.0)], axis=1
        )
        return cls(
            call_weight=street,
            theft_rate=theft,
            travel=district.travel_minutes,
            theft_weight=float(theft_weight),
            unit_presence=parked_presence(district),
            footprint=footprint,
            footprint_weight=footprint_weight,
            deterrence=district.config.deterrence,
        )

    def presence(self, sites: np.ndarray) -> np.ndarray:
        """``(C,)`` nearby presence ``q = kappa A y`` of units parked at ``sites``."""
        q = np.zeros(self.call_weight.size)
        np.add.at(q, self.footprint[sites].ravel(), self.footprint_weight[sites].ravel())
        return self.unit_presence * q

    def thefts(self, sites: np.ndarray) -> float:
        """Expected thefts per hour with units parked at ``sites``."""
        return float(self.theft_rate @ deterrence_factor(self.presence(sites), self.deterrence))

    def response(self, unit_vehicle: np.ndarray, sites: np.ndarray) -> float:
        """Expected travel minutes per hour (calls per hour x travel from the nearest post)."""
        return float(self.cost[unit_vehicle, sites].min(axis=0).sum())

    def responses(self, unit_vehicle: np.ndarray, placements: np.ndarray) -> np.ndarray:
        """``(P,)`` :meth:`response` of each row of ``(P, N)`` placements (the same floats)."""
        return self.cost[unit_vehicle[None, :], placements].min(axis=1).sum(axis=1)

    def site_totals(self, vehicle: int, served: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``(C,)`` objective (without the constant theft base) if a unit of ``vehicle`` joins
        units that serve each call cell within ``served`` minutes and make presence ``q``.

        Local searches ask for the same totals again and again (every re-solve of
        a placement re-checks the units that stay); they are computed once per
        exact input (``q`` counts only when theft is weighted) and returned read-only.
        """
        key = vehicle.to_bytes(2, "little") + served.tobytes()
        if self.theft_weight > 0:
            key += q.tobytes()
        totals = self._totals_memo.get(key)
        if totals is None:
            totals = np.minimum(served[None, :], self.cost[vehicle]).sum(axis=1)
            if self.theft_weight > 0:
                totals = totals + self.theft_weight * self.theft_change(q)
            totals.flags.writeable = False
            self._totals_memo[key] = totals
        return totals

    def theft_change(self, q: np.ndarray) -> np.ndarray:
        """``(C,)`` change of expected thefts per hour if one more unit parks at each site."""
        cells = self.footprint
        before = deterrence_factor(q[cells], self.deterrence)
        after = deterrence_factor(
            q[cells] + self.unit_presence * self.footprint_weight, self.deterrence
        )
        return ((after - before) * self.theft_rate[cells]).sum(axis=1)


@dataclass(frozen=True)
class PostSolution:
    """Each unit's post, its two costs per hour and a certified lower bound on the objective."""

    sites: np.ndarray
    response_minutes: float
    thefts: float
    theft_weight: float
    lower_bound: float

    @property
    def objective(self) -> float:
        """Response minutes + lambda x thefts, per hour."""
        return self.response_minutes + self.theft_weight * self.thefts

    @property
    def gap(self) -> float:
        """Relative optimality gap ``(objective - bound) / objective``."""
        return (self.objective - self.lower_bound) / self.objective if self.objective > 0 else 0.0


def solve_posts(
    problem: PostProblem,
    unit_vehicle: np.ndarray,
    starts: list[np.ndarray] | None = None,
    greedy: bool = True,
    certify: bool = True,
    max_rounds: int = 50,
    bound_iterations: int = 200,
) -> PostSolution:
    """Place units to minimise response minutes + lambda x thefts in one hour.

    Parameters
    ----------
    problem
        The hour's :class:`PostProblem`.
    unit_vehicle
        ``(N,)`` vehicle type of each unit to place.
    starts
        Placements to improve (e.g. the current posts); on a tie the first wins.
    greedy
        Also improve a greedy placement (always, when no start is given).
    certify
        Compute the lower bound (otherwise ``lower_bound`` is ``-inf``).

    Returns
    -------
    PostSolution
        The best placement found by local search from every start.
    """
    unit_vehicle = np.asarray(unit_vehicle, dtype=np.int64)
    candidates = [np.asarray(s).copy() for s in starts or []]
    if greedy or not candidates:
        candidates.append(_greedy(problem, unit_vehicle))  # a tie keeps the given start
    best = None
    for start in candidates:
        sites = _interchange(problem, unit_vehicle, start, max_rounds)
        value = _objective(problem, unit_vehicle, sites)
        if best is None or value < best[1] - _RELATIVE_TOLERANCE * abs(best[1]):
            best = (sites, value)
    sites = best[0]
    solution = PostSolution(
        sites=sites,
        response_minutes=problem.response(unit_vehicle, sites),
        thefts=problem.thefts(sites),
        theft_weight=problem.theft_weight,
        lower_bound=-np.inf,
    )
    if not certify:
        return solution
    bound = max(
        _lagrangian_bound(problem, unit_vehicle, solution, bound_iterations),
        _submodular_bound(problem, unit_vehicle, solution),
    )
    return PostSolution(
        sites=sites,
        response_minutes=solution.response_minutes,
        thefts=solution.thefts,
        theft_weight=problem.theft_weight,
        lower_bound=min(bound, solution.objective),
    )


def _objective(problem: PostProblem, unit_vehicle: np.ndarray, sites: np.ndarray) -> float:
    return problem.response(unit_vehicle, sites) + problem.theft_weight * problem.thefts(sites)


def _greedy(problem: PostProblem, unit_vehicle: np.ndarray) -> np.ndarray:
    """Add units one at a time, each at the site that lowers the objective most."""
    served = np.full(problem.call_weight.size, np.inf)
    q = np.zeros(problem.call_weight.size)
    sites = np.zeros(unit_vehicle.size, dtype=np.int64)
    for n, v in enumerate(unit_vehicle):
        sites[n] = int(np.argmin(problem.site_totals(int(v), served, q)))
        served = np.minimum(served, problem.cost[v, sites[n]])
        q = q + _footprint_presence(problem, sites[n])
    return sites


def _footprint_presence(problem: PostProblem, site: int) -> np.ndarray:
    q = np.zeros(problem.call_weight.size)
    np.add.at(q, problem.footprint[site], problem.unit_presence * problem.footprint_weight[site])
    return q


def _interchange(
    problem: PostProblem, unit_vehicle: np.ndarray, sites: np.ndarray, max_rounds: int
) -> np.ndarray:
    """Move one unit at a time to its best site, and swap the sites of two units of
    different vehicles, until no such move improves."""
    sites = sites.copy()
    for _ in range(max_rounds):
        moved = _single_moves(problem, unit_vehicle, sites)
        swapped = _vehicle_swaps(problem, unit_vehicle, sites)
        if not (moved or swapped):
            break
    return sites


def _single_moves(problem: PostProblem, unit_vehicle: np.ndarray, sites: np.ndarray) -> bool:
    """One pass moving each unit (in place) to its best site; True if any moved."""
    units = np.arange(sites.size)
    q = problem.presence(sites)
    improved = False
    for n, v in enumerate(unit_vehicle):
        others = units != n
        served = (
            problem.cost[unit_vehicle[others], sites[others]].min(axis=0)
            if others.any()
            else np.full(problem.call_weight.size, np.inf)
        )
        q_without = q - _footprint_presence(problem, sites[n])
        totals = problem.site_totals(int(v), served, q_without)
        j = int(np.argmin(totals))
        if totals[j] < totals[sites[n]] - _RELATIVE_TOLERANCE * abs(totals[sites[n]]):
            sites[n] = j
            q = q_without + _footprint_presence(problem, j)
            improved = True
    return improved


def _vehicle_swaps(problem: PostProblem, unit_vehicle: np.ndarray, sites: np.ndarray) -> bool:
    """Swap (in place) the sites of two units of different vehicles where it shortens travel.

    Pairs are tried in order, each against the sites as left by the swaps before
    it. Presence, hence theft, is unchanged by a swap; only the response term
    moves, so the pairs not yet tried are scored together until one improves.
    """
    improved = False
    current = problem.response(unit_vehicle, sites)
    pairs = np.array(
        [
            (a, b)
            for a, b in itertools.combinations(range(sites.size), 2)
            if unit_vehicle[a] != unit_vehicle[b]
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    while pairs.size:
        a, b = pairs[:, 0], pairs[:, 1]
        pairs = pairs[sites[a] != sites[b]]
        if not pairs.size:
            break
        a, b = pairs[:, 0], pairs[:, 1]
        trials = np.repeat(sites[None, :], len(pairs), axis=0)
        rows = np.arange(len(pairs))
        trials[rows, a], trials[rows, b] = sites[b], sites[a]
        values = problem.responses(unit_vehicle, trials)
        better = np.flatnonzero(values < current - _RELATIVE_TOLERANCE * abs(current))
        if not better.size:
            break
        first = better[0]
        sites[:] = trials[first]
        current, improved = values[first], True
        pairs = pairs[first + 1 :]
    return improved


def _submodular_bound(
    problem: PostProblem, unit_vehicle: np.ndarray, solution: PostSolution
) -> float:
    """Nemhauser-Wolsey: objective minus each unit's best one-extra-unit gain at the solution."""
    served = problem.cost[unit_vehicle, solution.sites].min(axis=0)
    response_gain = np.maximum(served[None, None, :] - problem.cost, 0.0).sum(axis=2)  # (V, C)
    theft_gain = -problem.theft_weight * problem.theft_change(problem.presence(solution.sites))
    best_gain = (response_gain + theft_gain[None, :]).max(axis=1)  # (V,)
    return solution.objective - float(best_gain[unit_vehicle].sum())


def _lagrangian_bound(
    problem: PostProblem, unit_vehicle: np.ndarray, solution: PostSolution, iterations: int
) -> float:
    """Best Lagrangian lower bound found by subgradient ascent (Polyak steps).

    With ``y_{v,s}`` units of vehicle ``v`` at site ``s``, each distinct pair
    ``(v, s)`` may serve a call cell. Relaxing "each call cell is served once"
    (``mu``) and ``q = kappa A y`` (``nu <= 0``; ``0 <= q_c <= kappa N``):

    ``L = sum(mu) + sum_v min_y [sum_{s: y_vs > 0} rho_vs + sum_s pen_s y_vs]
    + sum_c min_q [lambda theta_c f(q) - nu_c q]``, ``rho_vs = sum_i min(0,
    cost[v, s, i] - mu_i)``, ``pen = kappa A nu``. The middle term is bounded
    below by the best over ``k`` distinct sites (the ``k`` smallest ``rho + pen``)
    plus ``n_v - k`` extra units at the smallest ``pen``; the last is solved in
    closed form. Every ``(mu, nu)`` so gives a valid bound.
    """
    params = problem.deterrence
    types, counts = np.unique(unit_vehicle, return_counts=True)
    cost = problem.cost[types]  # (T, S, I)
    kappa, sigma, r = problem.unit_presence, params.saturation_minutes, params.max_reduction
    scaled = problem.theft_weight * problem.theft_rate  # lambda theta
    slope_scale = scaled * r / sigma  # -f'(0) * lambda theta
    q_max = kappa * unit_vehicle.size
    footprint_of_unit = kappa * _footprint_matrix(problem)  # (S, C)
    upper = solution.objective
    mu = problem.cost[unit_vehicle, solution.sites].min(axis=0).copy()
    q0 = problem.presence(solution.sites)
    nu = -slope_scale * np.exp(-q0 / sigma)  # the tangent of the theft term at the solution
    best, step_scale, stall = -np.inf, 2.0, 0
    for _ in range(iterations):
        reduced = np.minimum(cost - mu[None, None, :], 0.0)
        rho = reduced.sum(axis=2)  # (T, S)
        penalty = footprint_of_unit @ nu  # (S,)
        extra_site = int(np.argmin(penalty))
        value = mu.sum()
        covered = np.zeros(mu.size)
        units_at = np.zeros(penalty.size)
        for t_idx, n_units in enumerate(counts):
            order = np.argsort(rho[t_idx] + penalty)[:n_units]
            totals = np.cumsum((rho[t_idx] + penalty)[order])
            totals += (n_units - np.arange(1, n_units + 1)) * penalty[extra_site]
            k = int(np.argmin(totals)) + 1
            value += totals[k - 1]
            covered += (reduced[t_idx, order[:k]] < 0).sum(axis=0)
            units_at[order[:k]] += 1
            units_at[extra_site] += n_units - k
        t = -nu
        q = np.full(t.size, q_max)
        pos = (t > 0) & (slope_scale > 0)
        q[pos] = sigma * np.log(slope_scale[pos] / t[pos])
        q[(slope_scale <= 0) & (t > 0)] = 0.0
        np.clip(q, 0.0, q_max, out=q)
        value += float((scaled * deterrence_factor(q, params) + t * q).sum())
        if value > best + 1e-12:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 10:
                step_scale, stall = step_scale / 2.0, 0
        grad_mu = 1.0 - covered
        # In units of kappa (eta = kappa nu), so both gradients count units.
        grad_eta = (units_at @ footprint_of_unit - q) / kappa
        if problem.theft_weight == 0:
            grad_eta[:] = 0.0
        norm = float(grad_mu @ grad_mu + grad_eta @ grad_eta)
        if norm == 0 or step_scale < 1e-4 or upper - value <= 0:
            break
        step = step_scale * (upper - value) / norm
        mu = np.maximum(mu + step * grad_mu, 0.0)
        nu = np.minimum(nu + step * grad_eta / kappa, 0.0)
    return float(best)


def _footprint_matrix(problem: PostProblem) -> np.ndarray:
    """``(S, C)`` dense ``A``: the nearby-presence weight a unit at each site adds to each cell."""
    c = problem.call_weight.size
    matrix = np.zeros((c, c))
    np.add.at(matrix, (np.arange(c)[:, None], problem.footprint), problem.footprint_weight)
    return matrix


@dataclass(frozen=True)
class HourlyPosts:
    """Theft-aware posts of every hour, units kept near their last post.

    Attributes
    ----------
    sites
        ``(24, N)`` each unit's post per hour (within a vehicle type, matched to
        move least from the previous hour).
    solutions
        The 24 hourly :class:`PostSolution` (per-hour figures; certified only
        for the hours the episode covers).
    hour_minutes
        ``(24,)`` minutes of the episode in each clock hour.
    """

    sites: np.ndarray
    solutions: tuple[PostSolution, ...]
    hour_minutes: np.ndarray

    def per_day(self) -> dict[str, float]:
        """Expected response minutes, thefts, objective and its bound per episode (a day).

        Each hour counts for the share of it the episode covers.
        """
        share = self.hour_minutes / 60.0
        hours = np.flatnonzero(share > 0)

        def total(field: str) -> float:
            return float(sum(share[h] * getattr(self.solutions[h], field) for h in hours))

        return {
            "response_minutes": total("response_minutes"),
            "thefts": total("thefts"),
            "objective": total("objective"),
            "lower_bound": total("lower_bound"),
            "max_gap": float(max(self.solutions[h].gap for h in hours)),
        }


_HOURLY_CACHE: dict[tuple[str, float, bool], HourlyPosts] = {}
# Bump when the local search or the bounds change: cached bounds cannot be
# re-checked, only trusted from the solver version that proved them.
POSTS_SOLVER_VERSION = 1


def hourly_theft_posts(
    district: District, incidents: IncidentModel, theft_weight: float, certify: bool = True
) -> HourlyPosts:
    """Solve (once per district config and weight) the 24 hours' theft-aware posts.

    Each hour starts from the hour's p-median sites (so that ``theft_weight = 0``
    keeps them) and from a greedy placement. The hours the episode covers are
    certified unless ``certify=False`` (then ``lower_bound`` is ``-inf``); a
    certified plan serves both requests. Solutions are kept in memory and in
    the on-disk cache (:mod:`patrolmarl.agents.solution_cache`), keyed by the
    district config's SHA-256, the intensities, the p-median starts, the weight
    and ``certify``; an entry is used only if its shapes are right and its
    response and thefts reproduce from its posts.
    """
    from scipy.optimize import linear_sum_assignment

    from patrolmarl.agents.pmedian import hourly_pmedian

    config = district.config.model_dump_json()
    for key in ((config, float(theft_weight), True), (config, float(theft_weight), certify)):
        if key in _HOURLY_CACHE:
            return _HOURLY_CACHE[key]
    pmedian = hourly_pmedian(district, incidents)
    vehicle = district.unit_vehicle
    minutes = minutes_per_hour(district)
    problems = [PostProblem.for_hour(district, incidents, h, theft_weight) for h in range(24)]
    solutions = None
    for certified in dict.fromkeys((True, certify)):
        meta = _posts_meta(district, incidents, pmedian.sites, theft_weight, certified)
        stored = read_entry("theft_posts", _meta_key(meta), meta)
        if stored is not None:
            solutions = _validated_posts(stored, problems, vehicle, minutes, certified)
        if solutions is not None:
            break
    if solutions is None:
        solutions = tuple(
            solve_posts(
                problems[h], vehicle, starts=[pmedian.sites[h]], certify=certify and minutes[h] > 0
            )
            for h in range(24)
        )
        meta = _posts_meta(district, incidents, pmedian.sites, theft_weight, certify)
        write_entry("theft_posts", _meta_key(meta), meta, _posts_arrays(solutions))
    sites = []
    for h, sol in enumerate(solutions):
        hour_sites = sol.sites.copy()
        if sites and not np.array_equal(hour_sites, pmedian.sites[h]):
            previous = sites[-1]
            for v in np.unique(vehicle):
                units = np.flatnonzero(vehicle == v)
                cost = district.travel_minutes[v][previous[units][:, None], hour_sites[units]]
                _, col = linear_sum_assignment(cost)
                hour_sites[units] = sol.sites[units][col]
        sites.append(hour_sites)
    result = HourlyPosts(sites=np.array(sites), solutions=tuple(solutions), hour_minutes=minutes)
    _HOURLY_CACHE[(config, float(theft_weight), certify)] = result
    return result


def _posts_meta(
    district: District,
    incidents: IncidentModel,
    starts: np.ndarray,
    theft_weight: float,
    certify: bool,
) -> dict:
    """What identifies a solved set of hourly posts in the solution cache."""
    rates = np.ascontiguousarray(incidents.rate_per_minute, dtype=np.float64)
    return {
        "kind": "hourly_theft_posts",
        "solver_version": POSTS_SOLVER_VERSION,
        "config_sha256": district.config_sha256,
        "intensity_sha256": hashlib.sha256(rates.tobytes()).hexdigest(),
        "starts_sha256": hashlib.sha256(np.ascontiguousarray(starts).tobytes()).hexdigest(),
        "theft_weight": float(theft_weight),
        "certify": bool(certify),
    }


def _meta_key(meta: dict) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def _posts_arrays(solutions: tuple[PostSolution, ...]) -> dict[str, np.ndarray]:
    return {
        "sites": np.array([s.sites for s in solutions], dtype=np.int64),
        "response_minutes": np.array([s.response_minutes for s in solutions]),
        "thefts": np.array([s.thefts for s in solutions]),
        "lower_bound": np.array([s.lower_bound for s in solutions]),
    }


def _validated_posts(
    stored: dict[str, np.ndarray],
    problems: list[PostProblem],
    vehicle: np.ndarray,
    minutes: np.ndarray,
    certified: bool,
) -> tuple[PostSolution, ...] | None:
    """The cached solutions if shapes, values and both costs check out, else None."""
    hours = len(problems)
    shapes = {
        "sites": (hours, vehicle.size),
        "response_minutes": (hours,),
        "thefts": (hours,),
        "lower_bound": (hours,),
    }
    if any(
        stored.get(name) is None or stored[name].shape != shape for name, shape in shapes.items()
    ):
        return None
    sites, response, thefts, bound = (stored[name] for name in shapes)
    n_cells = problems[0].call_weight.size
    if sites.dtype.kind not in "iu" or sites.min() < 0 or sites.max() >= n_cells:
        return None
    if any(a.dtype.kind != "f" for a in (response, thefts, bound)):
        return None
    if not (np.isfinite(response).all() and np.isfinite(thefts).all()):
        return None
    solutions = []
    for h, problem in enumerate(problems):
        solution = PostSolution(
            sites=sites[h].astype(np.int64),
            response_minutes=float(response[h]),
            thefts=float(thefts[h]),
            theft_weight=problem.theft_weight,
            lower_bound=float(bound[h]),
        )
        if certified and minutes[h] > 0:
            if not solution.lower_bound <= solution.objective * (1 + 1e-12):  # NaN fails too
                return None
        elif solution.lower_bound != -np.inf:
            return None
        reproduced = (problem.response(vehicle, solution.sites), problem.thefts(solution.sites))
        if not np.allclose(
            reproduced, (solution.response_minutes, solution.thefts), rtol=1e-9, atol=1e-12
        ):
            return None
        solutions.append(solution)
    return tuple(solutions)


class PMedianTheftPolicy:
    """Units wait at the hour's theft-aware posts (:func:`hourly_theft_posts`); nearest dispatch.

    Parameters
    ----------
    seed
        Unused (the policy is deterministic); accepted like every baseline.
    theft
        ``lambda``, response-minutes a theft is worth (default 60, the reward's weight).
    """

    name = "pmedian_theft"
    parameters = ("theft",)

    def __init__(self, seed: int | None = None, theft: float = DEFAULT_THEFT_WEIGHT) -> None:
        self.theft = float(theft)
        self._view: SimView | None = None
        self.plan: HourlyPosts | None = None

    def bind(self, view: SimView) -> None:
        """Solve the hourly posts (cached per district and weight)."""
        self._view = view
        self.plan = hourly_theft_posts(view.district, view.incidents, self.theft, certify=False)

    def reset(self, mask: np.ndarray) -> None:
        """No per-episode memory."""

    def dispatch_rule(self) -> DispatchRule:
        """Each call goes to the nearest free unit."""
        return NEAREST

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Head for this hour's post."""
        view = self._view
        return moves_toward(view, self.plan.sites[view.hour_of_day])
