"""Queueing check: one cell, c units, Poisson calls, exponential service, NEAREST = M/M/c.

Under NEAREST every street call is dispatched at its arrival instant to an
available unit (all at travel 0 on a 1x1 grid), and a call finding every unit
busy waits FCFS for the first unit released, at that instant. So the simulator
is the M/M/c FCFS queue exactly, at the default 1-minute step (with 2-minute
mean service, so a step-boundary delay would show as a large error), and its
probability of waiting and mean wait must be Erlang C's.

What is compared, per point (see :mod:`patrolmarl.evaluation.queue_check`):
calls arriving after a warm-up of 6 relaxation times, over a window, on
independent days; P(wait) = waited calls / calls and mean wait = summed waits
/ calls, each with the delta-method standard error across days. The simulator
passes if each is within 4 standard errors of Erlang C; the days are chosen so
that 4 standard errors fit inside 2 % (P(wait)) and 3 % (mean wait) of the
exact value, which the test also asserts, so passing means agreement to
within 2 % / 3 %, and a disagreement of that size would fail.
"""

from __future__ import annotations

import pytest

from patrolmarl.evaluation.queue_check import QueuePoint, run_mmc
from patrolmarl.evaluation.queueing import erlang_c, erlang_c_wait

P_BOUND, W_BOUND = 0.02, 0.03

# Days per point: enough for 4 standard errors well inside the bounds (measured ~0.6 %
# relative SE of the mean wait, the binding one); about 6 s a point in the fast test.
FAST = [(QueuePoint(1, 0.5), 5000), (QueuePoint(2, 0.5), 5000)]
SLOW = [(QueuePoint(2, 0.7), 4400), (QueuePoint(5, 0.7), 3800)]


def _check_erlang_c(point: QueuePoint, days: int, seed: int) -> None:
    sample = run_mmc(point, days, seed)
    assert sample.censored == 0
    p_exact = erlang_c(point.servers, point.offered)
    w_exact = erlang_c_wait(point.servers, point.offered, point.mean_service)
    p, w = sample.p_wait(), sample.mean_wait()
    # The sample resolves the bounds ...
    assert p.resolves(p_exact, P_BOUND), (point, p, p_exact)
    assert w.resolves(w_exact, W_BOUND), (point, w, w_exact)
    # ... and the simulator agrees within 4 standard errors, so within the bounds.
    assert p.agrees(p_exact), (point, p, p_exact)
    assert w.agrees(w_exact), (point, w, w_exact)
    assert abs(p.rel_error(p_exact)) <= P_BOUND and abs(w.rel_error(w_exact)) <= W_BOUND


@pytest.mark.parametrize("point, days", FAST, ids=lambda v: str(v))
def test_waiting_matches_erlang_c(point: QueuePoint, days: int) -> None:
    _check_erlang_c(point, days, seed=16)


@pytest.mark.slow
@pytest.mark.parametrize("point, days", SLOW, ids=lambda v: str(v))
def test_waiting_matches_erlang_c_grid(point: QueuePoint, days: int) -> None:
    _check_erlang_c(point, days, seed=17)
