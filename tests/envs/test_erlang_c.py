"""Queueing check: one cell, c units, Poisson calls, exponential service = M/M/c.

With ``fallback_minutes = 0`` the command centre gives every call, at the first
step boundary after it is created, to an idle unit (the nearest, all at travel
0 on a 1x1 grid); a call finding all units busy waits, oldest first. As the
step shrinks this is the M/M/c queue, whose probability of waiting and mean
wait are Erlang C's.

The step length ``h`` is not negligible here (a small step makes the test slow),
so the simulator is held to two references:

- the *exact* law of the stepped system, a discrete-time Markov chain of the
  number of calls in the system at step boundaries (Poisson(lambda h) calls a
  step; each busy unit finishes within a step with probability
  ``1 - exp(-h / S)``, as ``ceil(S / h)`` is geometric for exponential ``S``),
  propagated from the empty start, so neither the step nor the start-up biases
  it: the simulator must match it within 4 standard errors;
- Erlang C, within 4 standard errors plus the bias of the step and of the
  finite warm-up (the exact chain's value minus Erlang C's, computed).

Waits are measured from a call's first step boundary (the boundary delay every
call has, even with a unit idle) to its dispatch.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom, poisson

from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District

UNITS = 8
SERVICE = 10.0  # mean service minutes
RHO = 0.7  # utilisation
RATE = RHO * UNITS / SERVICE  # calls per minute
STEP = 0.25
HORIZON = 360.0
WARM_UP = 90.0
DAYS = 512


def _mmc_district(units: int, rate: float, service: float, step: float, horizon: float) -> District:
    raw = {
        "name": "mmc",
        "cell_size_m": 400,
        "land_use_map": ["S"],
        "precinct_map": ["1"],
        "land_uses": {"S": {"name": "street", "road_speed_kmh": 20}},
        "precincts": {"1": {"name": "only"}},
        "vehicles": {"car": {"max_speed_kmh": 30}},
        "units": [{"count": units, "vehicle": "car", "precinct": "1"}],
        "call_types": {
            "call": {
                "daily_rate": rate * 1440,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0},
                "service": {"dist": "exponential", "mean": service},
            }
        },
        "simulation": {
            "step_minutes": step,
            "episode_minutes": horizon,
            "fallback_minutes": 0,
            "observed_calls": 1,
        },
    }
    return District.from_config(validate_district_dict(raw, "<mmc>"))


def erlang_c(c: int, offered: float) -> float:
    """Probability that a call waits in M/M/c with offered load ``lambda / mu``."""
    top = offered**c / math.factorial(c) * c / (c - offered)
    return top / (sum(offered**k / math.factorial(k) for k in range(c)) + top)


def _chain(c: int, rate: float, service: float, step: float, size: int = 200):
    """Transition matrix of the number in system after each boundary's dispatch, the
    expected number of a step's new calls left waiting at its boundary, and the
    number waiting (queue length) in each state."""
    p_done = 1.0 - math.exp(-step / service)
    q = rate * step
    a_max = int(poisson.ppf(1 - 1e-15, q)) + 2
    p_arr = poisson.pmf(np.arange(a_max + 1), q)
    trans = np.zeros((size + 1, size + 1))
    new_waiting = np.zeros(size + 1)
    for n in range(size + 1):
        busy = min(n, c)
        for d, p_d in enumerate(binom.pmf(np.arange(busy + 1), busy, p_done)):
            for a, p_a in enumerate(p_arr):
                trans[n, min(n - d + a, size)] += p_d * p_a
                new_waiting[n] += p_d * p_a * min(a, max(0, n - d + a - c))
    queue = np.maximum(np.arange(size + 1) - c, 0).astype(float)
    return trans, new_waiting, queue


def _stationary(trans: np.ndarray) -> np.ndarray:
    pi = np.zeros(trans.shape[0])
    pi[0] = 1.0
    for _ in range(20000):
        nxt = pi @ trans
        if np.abs(nxt - pi).sum() < 1e-14:
            break
        pi = nxt
    return pi


def test_discrete_chain_tends_to_erlang_c() -> None:
    """The reference itself: the stepped queue's law approaches Erlang C as h -> 0."""
    p_c = erlang_c(UNITS, RATE * SERVICE)
    w_c = p_c / (UNITS / SERVICE - RATE)
    bias = []
    for h in (STEP, STEP / 10):
        trans, new_waiting, queue = _chain(UNITS, RATE, SERVICE, h)
        pi = _stationary(trans)
        p_h, w_h = pi @ new_waiting / (RATE * h), pi @ queue / RATE
        bias.append((abs(p_h - p_c), abs(w_h - w_c)))
    assert bias[0][0] < 0.05 * p_c and bias[0][1] < 0.12 * w_c
    assert bias[1][0] < bias[0][0] / 5 and bias[1][1] < bias[0][1] / 5
    # A textbook value: c = 2, a = 1 gives C = 1/3.
    assert abs(erlang_c(2, 1.0) - 1.0 / 3.0) < 1e-12
    assert abs(erlang_c(1, 0.5) - 0.5) < 1e-12  # M/M/1: P(wait) = rho


def test_waiting_matches_erlang_c() -> None:
    district = _mmc_district(UNITS, RATE, SERVICE, STEP, HORIZON)
    sim = BatchedSim(district, batch_size=DAYS)
    sim.reset(list(range(DAYS)))
    stay = np.zeros((DAYS, UNITS), dtype=np.int64)
    while not sim.done.all():
        sim.step(stay)
    n_steps = sim.n_steps
    first = int(round(WARM_UP / STEP))  # boundaries 1..first are the warm-up

    # Per day: calls whose first boundary is after the warm-up, how many of them
    # waited, and the waiting minutes accrued at boundaries after the warm-up.
    log = sim.calls
    calls, waited, wait_minutes = np.zeros(DAYS), np.zeros(DAYS), np.zeros(DAYS)
    for b in range(DAYS):
        n = int(log.n_calls[b])
        t, dispatch = log.time[b, :n], log.dispatch_time[b, :n]
        assert (log.by_fallback[b, :n] == ~np.isnan(dispatch)).all()
        eligible = np.floor(t / STEP) + 1  # index of the call's first boundary
        assert (eligible * STEP > t).all() and ((eligible - 1) * STEP <= t).all()
        done = np.where(np.isnan(dispatch), n_steps, np.rint(dispatch / STEP))
        assert (np.isnan(dispatch) | (done * STEP == dispatch)).all()
        assert (done >= eligible).all()
        window = eligible > first
        calls[b] = window.sum()
        waited[b] = (window & (done > eligible)).sum()
        wait_minutes[b] = STEP * np.maximum(0, done - np.maximum(eligible, first + 1)).sum()

    def ratio(x: np.ndarray) -> tuple[float, float]:
        r = x.sum() / calls.sum()
        se = np.sqrt(((x - r * calls) ** 2).sum() / (DAYS * (DAYS - 1))) / calls.mean()
        return float(r), float(se)

    p_sim, p_se = ratio(waited)
    w_sim, w_se = ratio(wait_minutes)

    # The exact expectation of the stepped system over the same window.
    trans, new_waiting, queue = _chain(UNITS, RATE, SERVICE, STEP)
    pi = np.zeros(trans.shape[0])
    pi[0] = 1.0
    exp_waited = exp_wait = 0.0
    for k in range(1, n_steps + 1):
        if k > first:
            exp_waited += pi @ new_waiting
        pi = pi @ trans
        if first < k < n_steps:
            exp_wait += STEP * (pi @ queue)
    exp_calls = RATE * STEP * (n_steps - first)
    p_chain, w_chain = exp_waited / exp_calls, exp_wait / exp_calls
    assert abs(calls.mean() - exp_calls) < 4 * np.sqrt(exp_calls / DAYS)
    assert abs(p_sim - p_chain) < 4 * p_se, (p_sim, p_chain, p_se)
    assert abs(w_sim - w_chain) < 4 * w_se, (w_sim, w_chain, w_se)

    # Erlang C, allowing for the computed bias of the step and the warm-up.
    p_c = erlang_c(UNITS, RATE * SERVICE)
    w_c = p_c / (UNITS / SERVICE - RATE)
    assert abs(p_sim - p_c) < 4 * p_se + abs(p_chain - p_c), (p_sim, p_c)
    assert abs(w_sim - w_c) < 4 * w_se + abs(w_chain - w_c), (w_sim, w_c)
    # The tolerances are tight enough to mean something.
    assert 4 * p_se + abs(p_chain - p_c) < 0.15 * p_c
    assert 4 * w_se + abs(w_chain - w_c) < 0.4 * w_c
