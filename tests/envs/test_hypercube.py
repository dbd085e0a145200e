"""Hypercube check: per-unit workloads and dispatch shares against Larson's exact model.

Units in this simulator stay at the call's cell after service, so in general
the dispatch preference depends on where units ended up, and the hypercube's
"units held at home" does not hold. It holds exactly on one cell: every unit is
at travel 0 from every call wherever it has been, NEAREST breaks the ties by
lowest unit index, so the single atom's preference list is ``0, 1, ..., c-1``
for ever (ordered-entry M/M/c, a hypercube with one atom, not symmetric in the
units: unit 0 is the busiest).

What is compared: over the window after the warm-up, on independent days,
each unit's fraction of time busy (against the hypercube's workload) and its
share of the window's dispatches (against the hypercube's dispatch fraction).
Each must be within 4 standard errors (across days) of the exact value, and
the days are chosen so that 4 standard errors are at most 0.01 (workloads) and
0.005 (dispatch shares), which the test asserts too: passing means agreement
within those absolute tolerances.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.evaluation.queue_check import SIGMAS, QueuePoint, run_mmc
from patrolmarl.evaluation.queueing import hypercube

WORKLOAD_TOL, DISPATCH_TOL = 0.01, 0.005
POINT = QueuePoint(3, 0.6)
DAYS = 640  # measured: 4 SE about 0.008 (workloads), 0.004 (dispatch shares)


def test_ordered_entry_matches_hypercube() -> None:
    sample = run_mmc(POINT, DAYS, seed=18)
    c = POINT.servers
    cube = hypercube(
        np.array([POINT.calls_per_minute]), np.arange(c)[None, :], 1 / POINT.mean_service
    )
    assert np.all(np.diff(cube.workload) < -0.02)  # the units really differ
    for unit in range(c):
        for est, exact, tol in (
            (sample.workload(unit), cube.workload[unit], WORKLOAD_TOL),
            (sample.dispatch_share(unit), cube.dispatch[unit, 0], DISPATCH_TOL),
        ):
            assert SIGMAS * est.se <= tol, (unit, est, exact)  # the tolerance is resolved
            assert est.agrees(exact), (unit, est, exact)
            assert abs(est.value - exact) <= tol
