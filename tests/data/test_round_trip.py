"""The built-in district's own calls, imported: rates, profiles, intensity and precincts come back.

Tolerances come from the sampling error of 200 days of calls: a count is
Poisson, so a daily rate's standard error is sqrt(rate / days); a share p of n
calls has standard error sqrt(p (1 - p) / n). Every figure must lie within 3
(rates, shares of areas) or 4 (each of 24 hours, 120 comparisons) of them.
Smoothed estimates are held to what smoothing aims at (the truth smoothed the
same way), so the tolerance is sampling error alone; a separate test checks
that the smoothed intensity is nearer the truth than the raw counts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from patrolmarl.data.intensity import smoothed_density
from patrolmarl.data.projection import LocalProjection
from patrolmarl.data.temporal import HOURLY_KERNEL
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel

from .conftest import DAYS


@pytest.fixture(scope="module")
def pair(imported: Path) -> tuple[IncidentModel, IncidentModel, dict]:
    true = IncidentModel(District.load("gaoxin"))
    fitted = IncidentModel(District.load(imported))
    fit = json.loads((imported.parent / "gaoxin_again_report" / "fit.json").read_text())
    return true, fitted, fit


def _daily(model: IncidentModel, name: str) -> np.ndarray:
    """``(C,)`` expected calls a day per cell of one type."""
    return model.rate_per_minute[:, model.type_names.index(name), :].sum(axis=0) * 60.0


def test_grid_and_origin_land_on_the_same_place(imported: Path) -> None:
    true, fitted = District.load("gaoxin"), District.load(imported)
    assert (fitted.rows, fitted.cols) == (true.rows, true.cols)
    assert fitted.config.cell_size_m == true.config.cell_size_m
    assert fitted.config.origin.lat == pytest.approx(true.config.origin.lat, abs=1e-7)
    assert fitted.config.origin.lon == pytest.approx(true.config.origin.lon, abs=1e-7)


def test_boundary_precincts_round_trip_cell_for_cell(imported: Path) -> None:
    true, fitted = District.load("gaoxin"), District.load(imported)
    name = lambda d: np.array([d.config.precincts[c].name for c in d.precinct_codes])  # noqa: E731
    np.testing.assert_array_equal(
        name(fitted)[fitted.precinct_of_cell], name(true)[true.precinct_of_cell]
    )


def test_daily_rates_within_three_standard_errors(pair) -> None:
    true, fitted, _ = pair
    assert fitted.type_names == true.type_names
    for name in true.type_names:
        rate, got = _daily(true, name).sum(), _daily(fitted, name).sum()
        assert abs(got - rate) < 3 * math.sqrt(rate / DAYS), (name, got, rate)


def test_hourly_profiles_within_four_standard_errors(pair) -> None:
    true, fitted, fit = pair
    left, mid, right = HOURLY_KERNEL
    for t, name in enumerate(true.type_names):
        p = true.rate_per_minute[:, t, :].sum(axis=1)
        p = p / p.sum()
        expected = left * np.roll(p, 1) + mid * p + right * np.roll(p, -1)  # what smoothing aims at
        got = fitted.rate_per_minute[:, t, :].sum(axis=1)
        got = got / got.sum()
        se = np.sqrt(expected * (1 - expected) / fit["types"][name]["calls"])
        assert np.all(np.abs(got - expected) < 4 * se), (name, np.abs(got - expected) / se)


def _smoothed_truth(true: IncidentModel, name: str, fit: dict) -> np.ndarray:
    """What the fit aims at: kernel smoothing is linear in the counts, so its expectation is
    the true intensity smoothed with the chosen bandwidth (sampling error is what is left)."""
    n, sigma = fit["types"][name]["calls"], fit["types"][name]["bandwidth_cells"]
    truth = _daily(true, name)
    return smoothed_density(truth / truth.sum() * n, np.ones(truth.size, bool), (20, 20), sigma)


def test_precinct_shares_of_calls_within_three_standard_errors(pair) -> None:
    true, fitted, fit = pair
    precinct = District.load("gaoxin").precinct_of_cell
    for name in true.type_names:
        p = np.bincount(precinct, weights=_smoothed_truth(true, name, fit))
        got = np.bincount(precinct, weights=_daily(fitted, name)) / _daily(fitted, name).sum()
        se = np.sqrt(p * (1 - p) / fit["types"][name]["calls"])
        assert np.all(np.abs(got - p) < 3 * se), (name, (got - p) / se)


def test_hot_cells_hold_the_smoothed_truths_share_within_three_standard_errors(pair) -> None:
    """The true top 5 % cells hold the share of fitted calls the smoothed truth gives them.

    (Smoothing's own bias flattens single-cell peaks; the report shows it as the
    top-5 % share of data against model.)
    """
    true, fitted, fit = pair
    for name in true.type_names:
        truth, got = _daily(true, name), _daily(fitted, name)
        top = np.argsort(truth)[::-1][: round(0.05 * truth.size)]
        p, q = _smoothed_truth(true, name, fit)[top].sum(), got[top].sum() / got.sum()
        se = math.sqrt(p * (1 - p) / fit["types"][name]["calls"])
        assert abs(q - p) < 3 * se, (name, p, q, se)


def test_smoothing_is_closer_to_the_truth_than_the_raw_counts(pair, gaoxin_export) -> None:
    """Total variation distance to the true intensity: the fit's below the raw histogram's."""
    import pandas as pd

    true, fitted, fit = pair
    calls = pd.read_csv(gaoxin_export.calls)
    district = District.load("gaoxin")
    origin = district.config.origin
    x, y = LocalProjection(origin.lat, origin.lon).to_metres(calls["lon"], calls["lat"])
    cell = (np.floor(-y / 400) * district.cols + np.floor(x / 400)).astype(int)
    for name in true.type_names:
        truth = _daily(true, name) / _daily(true, name).sum()
        counts = np.bincount(cell[calls["type"] == name.upper()], minlength=district.n_cells)
        raw = counts / counts.sum()
        smooth = _daily(fitted, name) / _daily(fitted, name).sum()
        # At bandwidth 0 the fit is the counts plus one call spread evenly: L1 within 2/(n+1).
        slack = 2.0 / (counts.sum() + 1) if fit["types"][name]["bandwidth_cells"] == 0 else 0.0
        assert np.abs(smooth - truth).sum() < np.abs(raw - truth).sum() + slack, name
