"""Exact queueing references against closed forms (Erlang C, M/M/1, a hand-solved hypercube)
and the ratio estimate of the simulator checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patrolmarl.evaluation.queue_check import SIGMAS, ratio
from patrolmarl.evaluation.queueing import erlang_c, erlang_c_wait, hypercube


def _erlang_c_textbook(c: int, a: float) -> float:
    """The textbook sum formula (fine for small c)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_closed_forms() -> None:
    for rho in (0.1, 0.5, 0.9):  # M/M/1: P(wait) = rho, W = rho S / (1 - rho)
        assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)
        assert erlang_c_wait(1, rho, 10.0) == pytest.approx(10 * rho / (1 - rho), rel=1e-12)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)
    for c, a in ((5, 3.5), (14, 12.6), (8, 0.2)):
        assert erlang_c(c, a) == pytest.approx(_erlang_c_textbook(c, a), rel=1e-10)
    assert 0 < erlang_c(400, 360.0) < 1  # large c: no overflow
    assert erlang_c(3, 0.0) == 0.0


@pytest.mark.parametrize("servers, offered", [(0, 0.5), (2, 2.0), (2, -1.0)])
def test_erlang_c_rejects_bad_input(servers: int, offered: float) -> None:
    with pytest.raises(ValueError, match="Erlang C needs"):
        erlang_c(servers, offered)


@pytest.mark.parametrize("c, rho", [(1, 0.5), (3, 0.7), (6, 0.9)])
def test_hypercube_one_atom_equal_units_is_mmc(c: int, rho: float) -> None:
    mu = 0.1
    lam = rho * c * mu
    cube = hypercube(np.array([lam]), np.arange(c)[None, :], mu)
    assert cube.p_wait == pytest.approx(erlang_c(c, lam / mu), rel=1e-9)
    assert cube.mean_wait == pytest.approx(erlang_c_wait(c, lam / mu, 1 / mu), rel=1e-9)
    assert cube.workload.sum() == pytest.approx(lam / mu, rel=1e-9)
    assert cube.dispatch.sum() == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.diff(cube.workload) < 0)  # ordered entry: the first unit is busiest


def test_hypercube_two_units_by_hand() -> None:
    """Ordered entry, lambda = mu = 1: P(busy set) = 1/3, 1/4, 1/12, 1/6 (+1/6 queued)."""
    cube = hypercube(np.array([1.0]), np.array([[0, 1]]), 1.0)
    np.testing.assert_allclose(cube.state_probability, [1 / 3, 1 / 4, 1 / 12, 1 / 6], rtol=1e-12)
    np.testing.assert_allclose(cube.workload, [7 / 12, 5 / 12], rtol=1e-12)
    np.testing.assert_allclose(cube.dispatch, [[7 / 12], [5 / 12]], rtol=1e-12)
    assert cube.p_wait == pytest.approx(1 / 3, rel=1e-12)


def test_hypercube_flow_balance() -> None:
    """Several atoms, random lists and rates: each unit's dispatch rate is its completion rate."""
    rng = np.random.default_rng(16)
    n, atoms = 5, 7
    lam = rng.uniform(0.05, 0.2, atoms)
    pref = np.array([rng.permutation(n) for _ in range(atoms)])
    mu = rng.uniform(0.2, 0.5, n)
    cube = hypercube(lam, pref, mu)
    assert cube.dispatch.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(cube.dispatch.sum(axis=0), lam / lam.sum(), rtol=1e-12)
    np.testing.assert_allclose(cube.dispatch.sum(axis=1), cube.workload * mu / lam.sum(), rtol=1e-9)
    assert cube.state_probability.sum() < 1 and (cube.state_probability > 0).all()


def test_hypercube_own_unit_first_is_symmetric() -> None:
    """Atom j prefers unit j, then the rest cyclically: all units alike by symmetry."""
    n = 4
    pref = np.array([np.roll(np.arange(n), -j) for j in range(n)])
    cube = hypercube(np.full(n, 0.05), pref, 0.1)
    np.testing.assert_allclose(cube.workload, cube.workload.mean(), rtol=1e-10)
    assert np.diag(cube.dispatch).min() > cube.dispatch.sum(axis=1).mean() / 2


@pytest.mark.parametrize(
    "lam, pref, match",
    [
        ([1.0], [[0, 0]], "permutation"),
        ([2.5], [[0, 1]], "unstable"),
        ([1.0, 1.0], [[0, 1]], r"\(J,\)"),
    ],
)
def test_hypercube_rejects_bad_input(lam: list, pref: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hypercube(np.array(lam), np.array(pref), 1.0)


def test_ratio_standard_error_with_equal_denominators() -> None:
    """Equal denominators: the ratio is the mean, its SE the standard error of the mean."""
    x = np.random.default_rng(3).normal(5.0, 2.0, 50)
    est = ratio(x, np.full(50, 10.0))
    assert est.value == pytest.approx(x.mean() / 10, rel=1e-12)
    assert est.se == pytest.approx(x.std(ddof=1) / np.sqrt(50) / 10, rel=1e-12)
    assert est.agrees(est.value + 3.9 * est.se) and not est.agrees(est.value + 4.1 * est.se)
    assert est.resolves(est.value, SIGMAS * est.se / est.value)
