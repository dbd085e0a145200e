"""Limits no policy can pass: the travel bound (p-median) and the theft bound (deterrence cap).

The travel bound: calls do not depend on where units are, so the hour's
p-median travel time (solved to a proven gap) bounds any policy's mean travel
time from below; :func:`travel_limit` gives it call-weighted over the day.

The theft bound: each step the presence field decays by ``d = 0.5 ** (step /
half_life)`` and every visible unit adds ``step`` minutes, so the total presence
never exceeds ``cap = N * step / (1 - d)`` whatever the policy. Theft
candidates in a step arrive at ``theta(h, c)`` and are kept with probability
``f((A P)_c)`` (``A``: own cell plus weighted 4-neighbours), so a step's expected
thefts are at least ``min over P >= 0, sum P <= cap`` of ``sum_c theta(h, c)
f((A P)_c)`` per minute. That problem is convex; it is solved per hour of day
by accelerated projected gradient and certified by its Frank-Wolfe gap
(objective minus gap is a true lower bound). The bound ignores calls, travel
and the empty field at the day's start, all in the policy's favour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from patrolmarl.agents.pmedian import hourly_pmedian
from patrolmarl.agents.theft_posts import minutes_per_hour, parked_presence
from patrolmarl.envs.config import Deterrence
from patrolmarl.envs.coverage import deterrence_factor, deterrence_slope, nearby_matrix
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel

RELATIVE_GAP = 1e-6  # stop when the Frank-Wolfe gap is this small relative to the objective
MAX_ITERATIONS = 10_000


@dataclass
class HourBound:
    """The solved relaxation of one hour: per-minute expected thefts at the best presence."""

    presence: np.ndarray  # (C,) best presence found
    objective: float  # expected thefts per minute at that presence (an upper estimate of the min)
    gap: float  # Frank-Wolfe gap at that presence

    @property
    def certified(self) -> float:
        """A true lower bound on the minimum: objective minus the Frank-Wolfe gap."""
        return self.objective - self.gap


def presence_cap(district: District) -> float:
    """The largest total presence (patrol-minutes) any policy can ever hold."""
    return district.n_units * parked_presence(district)


def _objective(
    presence: np.ndarray, theta: np.ndarray, nearby: csr_matrix, params: Deterrence
) -> tuple[float, np.ndarray]:
    """Expected thefts per minute ``sum_c theta_c f((A P)_c)`` and its gradient in P."""
    q = nearby @ presence
    factor = deterrence_factor(q, params)
    return float(theta @ factor), nearby.T @ (theta * deterrence_slope(q, params))


def _project(y: np.ndarray, total: float) -> np.ndarray:
    """Euclidean projection onto ``{P >= 0, sum P = total}``."""
    u = np.sort(y)[::-1]
    excess = np.cumsum(u) - total
    rho = np.flatnonzero(u - excess / np.arange(1, y.size + 1) > 0)[-1]
    return np.maximum(y - excess[rho] / (rho + 1), 0.0)


def _fw_gap(presence: np.ndarray, grad: np.ndarray, cap: float) -> float:
    """``max over feasible S of grad . (P - S)``, the Frank-Wolfe gap (>= f(P) - min f)."""
    return float(grad @ presence - cap * min(grad.min(), 0.0))


def solve_hour(theta: np.ndarray, nearby: csr_matrix, params: Deterrence, cap: float) -> HourBound:
    """Minimise the hour's expected thefts over presence fields with total at most ``cap``.

    The gradient is negative everywhere, so the optimum spends the whole cap and
    the search runs on ``{P >= 0, sum P = cap}`` (FISTA with monotone restarts);
    the Frank-Wolfe gap is taken over the full set ``sum P <= cap``.
    """
    c = theta.size
    x = np.full(c, cap / c)
    fx, gx = _objective(x, theta, nearby, params)
    if theta.max() <= 0.0:
        return HourBound(x, fx, 0.0)
    # Lipschitz constant of the gradient: ||A||^2 * max theta * max_reduction / saturation^2.
    norm_a = 1.0 + 4.0 * params.neighbour_weight
    step = 1.0 / (norm_a**2 * theta.max() * params.max_reduction / params.saturation_minutes**2)
    y, t = x.copy(), 1.0
    for _ in range(MAX_ITERATIONS):
        if _fw_gap(x, gx, cap) <= RELATIVE_GAP * fx:
            break
        _, gy = _objective(y, theta, nearby, params)
        xn = _project(y - step * gy, cap)
        fn, gn = _objective(xn, theta, nearby, params)
        if fn > fx:  # restart the momentum when it overshoots
            y, t = x.copy(), 1.0
            continue
        tn = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = xn + (t - 1.0) / tn * (xn - x)
        x, fx, gx, t = xn, fn, gn, tn
    return HourBound(x, fx, _fw_gap(x, gx, cap))


@dataclass(frozen=True)
class TheftBound:
    """The theft bound of a district: per hour and per day (expected thefts)."""

    hours: dict[int, HourBound]  # the clock hours the episode covers
    minutes: np.ndarray  # (24,) minutes of the episode in each clock hour
    undeterred_per_day: float

    @property
    def per_day(self) -> float:
        """Certified lower bound on any policy's expected thefts per episode."""
        return float(sum(self.minutes[h] * hb.certified for h, hb in self.hours.items()))

    @property
    def relaxation_per_day(self) -> float:
        """The relaxation's optimum found (thefts per episode), just above the bound."""
        return float(sum(self.minutes[h] * hb.objective for h, hb in self.hours.items()))

    @property
    def worst_relative_gap(self) -> float:
        """Largest hourly Frank-Wolfe gap relative to the hour's objective."""
        relative = (hb.gap / hb.objective for hb in self.hours.values() if hb.objective > 0)
        return max(relative, default=0.0)


_CACHE: dict[str, TheftBound] = {}


def theft_bound(district: District, incidents: IncidentModel) -> TheftBound:
    """Solve (once per district config) the relaxation of every clock hour of the episode."""
    key = district.config.model_dump_json()
    if key not in _CACHE:
        params = district.config.deterrence
        theta = incidents.rate_per_minute[:, incidents.deterrable, :].sum(axis=1)  # (24, C)
        minutes = minutes_per_hour(district)
        cap = presence_cap(district)
        nearby = nearby_matrix(district.neighbour, params.neighbour_weight)
        hours = {
            h: solve_hour(theta[h], nearby, params, cap)
            for h in np.flatnonzero(minutes > 0).tolist()
        }
        _CACHE[key] = TheftBound(hours, minutes, float(minutes @ theta.sum(axis=1)))
    return _CACHE[key]


def theft_limit(district: District, incidents: IncidentModel) -> dict:
    """The theft bound as written to ``metrics.json["limit"]`` (expected thefts per day).

    ``theft_lower_bound`` is certified: no policy's expected thefts per episode
    are lower. ``theft_relaxation`` is the relaxation's optimum found (just
    above), ``theft_undeterred`` the thefts with no presence at all and
    ``theft_worst_gap`` the largest hourly Frank-Wolfe gap relative to its hour.
    """
    bound = theft_bound(district, incidents)
    return {
        "theft_lower_bound": bound.per_day,
        "theft_relaxation": bound.relaxation_per_day,
        "theft_undeterred": bound.undeterred_per_day,
        "theft_worst_gap": bound.worst_relative_gap,
    }


def travel_limit(district: District, incidents: IncidentModel) -> dict:
    """The p-median limit: no policy's mean travel time can be lower than ``travel_lower_bound``.

    ``travel_lower_bound`` is the call-weighted proven lower bound of the 24 hourly
    p-medians; ``hourly`` has each hour's objective, bound, gap, solve seconds and
    the bound's source (Lagrangian or HiGHS' dual bound).
    """
    plan = hourly_pmedian(district, incidents)
    return {
        "travel_lower_bound": plan.mean_travel_bound(),
        "pmedian_travel_at_sites": plan.mean_travel_at_sites(),
        "max_gap": plan.max_gap(),
        "hourly_lower_bound": [s.lower_bound for s in plan.solutions],
        "hourly": plan.hourly_table(),
    }
