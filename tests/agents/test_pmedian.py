"""The hourly p-median solver against brute force, its bound, edge cases and time limit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from patrolmarl.agents.pmedian import (
    HIGHS,
    NO_DEMAND,
    PMedianSettings,
    solve_pmedian,
)
from patrolmarl.agents.pmedian_mip import BOUND_SAFETY, solve_pmedian_mip

# HiGHS always asked to prove optimality (the exact path of the solver).
EXACT = PMedianSettings(gap_tolerance=0.0, mip_gap=0.0, kicks=0)


def _brute_force(weights: np.ndarray, travel: np.ndarray, unit_vehicle: np.ndarray) -> float:
    w = weights / weights.sum()
    best = np.inf
    n_cells = w.size
    for sites in itertools.product(range(n_cells), repeat=unit_vehicle.size - 1):
        # The last unit's site is vectorised: (C sites, C demand).
        fixed = travel[unit_vehicle[:-1], list(sites)].min(axis=0) if sites else np.inf
        totals = (np.minimum(fixed, travel[unit_vehicle[-1]]) * w).sum(axis=1)
        best = min(best, float(totals.min()))
    return best


def _instance(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """30 cells on a 5x6 grid, 3 units of 1 to 3 vehicle types, skewed demand."""
    rng = np.random.default_rng(seed)
    rc = np.stack(np.divmod(np.arange(30), 6), axis=1)
    manhattan = np.abs(rc[:, None, :] - rc[None, :, :]).sum(axis=2).astype(float)
    n_types = 1 + seed % 3
    speed = rng.uniform(0.5, 2.0, size=n_types)
    travel = manhattan[None] / speed[:, None, None]
    travel = travel + rng.uniform(0, 0.5, size=travel.shape) * (manhattan[None] > 0)
    unit_vehicle = rng.integers(0, n_types, size=3)
    return rng.gamma(0.5, size=30), travel, unit_vehicle


def _achieved(weights, travel, unit_vehicle, sites) -> float:
    w = weights / weights.sum()
    return float((travel[unit_vehicle, sites].min(axis=0) * w).sum())


@pytest.mark.parametrize("seed", range(12))
def test_default_solve_brackets_the_brute_force_optimum_within_the_tolerance(seed):
    weights, travel, unit_vehicle = _instance(seed)
    sol = solve_pmedian(weights, travel, unit_vehicle)
    optimum = _brute_force(weights, travel, unit_vehicle)
    assert sol.sites.shape == (3,)
    assert sol.objective == pytest.approx(_achieved(weights, travel, unit_vehicle, sol.sites))
    assert sol.lower_bound <= optimum * (1 + 1e-9)
    assert optimum <= sol.objective * (1 + 1e-9)
    assert sol.gap <= PMedianSettings().gap_tolerance
    assert sol.gap == pytest.approx((sol.objective - sol.lower_bound) / sol.objective)


def test_highs_finds_and_proves_the_brute_force_optimum():
    """Formerly an xfail: greedy + single-unit interchange alone missed a third of these."""
    for seed in range(12):
        weights, travel, unit_vehicle = _instance(seed)
        sol = solve_pmedian(weights, travel, unit_vehicle, EXACT)
        optimum = _brute_force(weights, travel, unit_vehicle)
        assert sol.objective == pytest.approx(optimum, rel=1e-9), f"seed {seed}"
        assert sol.lower_bound <= optimum * (1 + 1e-9)
        assert sol.gap <= 2 * BOUND_SAFETY, f"seed {seed}: gap {sol.gap}"


def test_the_capped_model_bounds_the_optimum_from_below_whatever_the_cap():
    weights, travel, unit_vehicle = _instance(5)
    w = weights / weights.sum()
    optimum = _brute_force(weights, travel, unit_vehicle)
    bounds = []
    for cap in (0.5, 2.0, 4.0, 100.0):
        outcome = solve_pmedian_mip(w, travel, unit_vehicle, cap, time_limit=20.0, mip_gap=0.0)
        assert outcome.lower_bound <= optimum * (1 + 1e-9)
        bounds.append(outcome.lower_bound)
    # A larger cap prices more of the travel (up to HiGHS' tolerances).
    assert all(a <= b * (1 + 1e-6) for a, b in itertools.pairwise(bounds))
    assert bounds[0] < 0.9 * bounds[-1]
    assert outcome.optimal
    assert outcome.lower_bound == pytest.approx(optimum, rel=1e-6)
    assert _achieved(weights, travel, unit_vehicle, outcome.sites) == pytest.approx(optimum)


def test_no_demand_keeps_units_at_their_idle_sites_with_zero_gap():
    _, travel, unit_vehicle = _instance(1)
    idle = np.array([4, 9, 4])
    sol = solve_pmedian(np.zeros(30), travel, unit_vehicle, idle_sites=idle)
    np.testing.assert_array_equal(sol.sites, idle)
    assert (sol.objective, sol.lower_bound, sol.gap, sol.bound_source) == (0.0, 0.0, 0.0, NO_DEMAND)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_weights_must_be_finite_and_non_negative(bad):
    weights, travel, unit_vehicle = _instance(0)
    weights[3] = bad
    with pytest.raises(ValueError, match="finite and non-negative"):
        solve_pmedian(weights, travel, unit_vehicle)


def test_a_spent_time_budget_still_returns_a_placement_with_a_valid_bound():
    weights, travel, unit_vehicle = _instance(4)
    sol = solve_pmedian(weights, travel, unit_vehicle, PMedianSettings(time_limit=0.0))
    optimum = _brute_force(weights, travel, unit_vehicle)
    assert sol.objective == pytest.approx(_achieved(weights, travel, unit_vehicle, sol.sites))
    assert sol.lower_bound <= optimum * (1 + 1e-9) <= sol.objective * (1 + 1e-9)
    assert sol.bound_source != HIGHS  # no time was left for the MIP


def test_more_units_than_useful_sites_still_get_a_site_each():
    """Five units of one type on a 4-cell line: HiGHS may open fewer sites than units."""
    line = np.abs(np.arange(4)[:, None] - np.arange(4)[None, :]).astype(float)[None]
    weights = np.array([1.0, 0.0, 0.0, 1.0])
    sol = solve_pmedian(weights, line, np.zeros(5, dtype=int), EXACT)
    assert sol.sites.shape == (5,)
    assert sol.objective == pytest.approx(0.0)
    assert {0, 3} <= set(sol.sites.tolist())
