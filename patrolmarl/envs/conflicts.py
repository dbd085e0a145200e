"""The accept-conflict rule: when several units accept one call, the first to arrive takes it.

Among the units accepting the same call (in the same district), the one with
the shortest travel time wins; ties go to the lowest unit index. The others
do not take it (the simulator treats their action as 0, stay or continue).
The batched core and the advice on a snapshot both resolve accepts with
:func:`accept_winners`; the plain reference simulator implements the rule on
its own, as the oracle the core is held to.
"""

from __future__ import annotations

import numpy as np


def accept_winners(
    district: np.ndarray, unit: np.ndarray, call: np.ndarray, travel: np.ndarray
) -> np.ndarray:
    """Indices of the winning claims, one per claimed ``(district, call)``, in that order.

    Parameters
    ----------
    district, unit, call, travel
        ``(M,)`` one entry per claim: the district, the accepting unit, the call
        it accepts and its travel minutes to that call.

    Returns
    -------
    numpy.ndarray
        ``(W,)`` int64 indices into the claims: for each claimed call (sorted by
        district, then call), the claim of least travel (ties: lowest unit).
    """
    order = np.lexsort((unit, travel, call, district))
    d, c = district[order], call[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (d[1:] != d[:-1]) | (c[1:] != c[:-1])
    return order[first]
