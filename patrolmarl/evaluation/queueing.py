"""Exact queueing references for the simulator: Erlang C and Larson's hypercube.

- :func:`erlang_c` and :func:`erlang_c_wait`: the M/M/c FCFS queue (Erlang C),
  from the Erlang B value ``B = poisson.pmf(c, a) / poisson.cdf(c, a)`` and
  ``C = c B / (c - a (1 - B))``, which stay accurate for large ``c``.
- :func:`hypercube`: Larson's hypercube queueing model (Larson 1974, "A hypercube
  queuing model for facility location and redistricting in urban emergency
  services"; Larson & Odoni, *Urban Operations Research*, 1981, ch. 5) with
  infinite line capacity: N units held at home, Poisson calls from atoms each
  with a fixed preference list of units, a call going to the first free unit of
  its list, exponential service (a rate per unit), and calls finding every unit
  busy queued FCFS and taken by the first unit to finish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve
from scipy.stats import poisson

#: Most units :func:`hypercube` accepts (2^N states).
MAX_HYPERCUBE_UNITS = 12


def erlang_c(servers: int, offered: float) -> float:
    """Probability that a call waits in M/M/c with ``offered = lambda / mu < servers``."""
    if servers < 1 or not 0 <= offered < servers:
        raise ValueError(
            f"Erlang C needs servers >= 1 and 0 <= offered < servers, "
            f"got servers={servers}, offered={offered}"
        )
    if offered == 0:
        return 0.0
    blocked = float(poisson.pmf(servers, offered) / poisson.cdf(servers, offered))
    return servers * blocked / (servers - offered * (1.0 - blocked))


def erlang_c_wait(servers: int, offered: float, mean_service: float) -> float:
    """Mean wait (over all calls) in M/M/c: ``C * mean_service / (servers - offered)``."""
    return erlang_c(servers, offered) * mean_service / (servers - offered)


@dataclass(frozen=True)
class Hypercube:
    """Stationary results of :func:`hypercube`.

    ``workload[n]``: fraction of time unit n is busy. ``dispatch[n, j]``: fraction
    of all dispatches that send unit n to atom j (sums to 1). ``p_wait``: fraction
    of calls that find every unit busy; ``mean_wait``: mean queueing delay over all
    calls (minutes, if rates are per minute). ``state_probability[s]``: probability
    of busy set ``s`` (bit n = unit n busy) with no call queued.
    """

    workload: np.ndarray
    dispatch: np.ndarray
    p_wait: float
    mean_wait: float
    state_probability: np.ndarray


def hypercube(
    arrival_rates: np.ndarray, preferences: np.ndarray, service_rates: np.ndarray | float
) -> Hypercube:
    """Larson's hypercube model with infinite line capacity (see the module docstring).

    ``arrival_rates``: (J,) Poisson rate of each atom. ``preferences``: (J, N), row j
    a permutation of the units, most preferred first. ``service_rates``: (N,) or one
    rate for all. The 2^N busy/free states are solved exactly; the queue beyond
    saturation is the birth-death tail ``P(full, k queued) = P(full) r^k`` with
    ``r = lambda / sum(mu)``, so it is summed in closed form, not truncated.
    """
    lam = np.asarray(arrival_rates, dtype=float)
    pref = np.asarray(preferences, dtype=np.int64)
    if pref.ndim != 2 or lam.shape != (pref.shape[0],) or (lam < 0).any():
        raise ValueError(
            f"hypercube needs (J,) non-negative rates and (J, N) preferences, "
            f"got {lam.shape} and {pref.shape}"
        )
    n = pref.shape[1]
    if not 1 <= n <= MAX_HYPERCUBE_UNITS:
        raise ValueError(f"hypercube takes 1 to {MAX_HYPERCUBE_UNITS} units, got {n}")
    if (np.sort(pref, axis=1) != np.arange(n)).any():
        raise ValueError("hypercube preferences: each row must be a permutation of the units")
    mu = np.broadcast_to(np.asarray(service_rates, dtype=float), (n,))
    if (mu <= 0).any():
        raise ValueError("hypercube service rates must be positive")
    ratio = lam.sum() / mu.sum()
    if ratio >= 1:
        raise ValueError(f"hypercube is unstable: arrival rate / total service rate = {ratio:.3g}")

    states = np.arange(1 << n)
    busy = (states[:, None] >> np.arange(n)) & 1  # (S, N)
    full = (1 << n) - 1
    rows, cols, rates = [], [], []
    # Service completions: unit u frees, s -> s without bit u (the full state's
    # completions while calls queue are the tail's business, balanced separately).
    for u in range(n):
        s = states[busy[:, u] == 1]
        rows.append(s)
        cols.append(s ^ (1 << u))
        rates.append(np.full(s.size, mu[u]))
    # Arrivals from atom j in a non-full state go to the first free unit of its list.
    open_states = states[states != full]
    chosen = np.empty((lam.size, open_states.size), dtype=np.int64)
    for j in range(lam.size):
        chosen[j] = pref[j, np.argmin(busy[open_states][:, pref[j]], axis=1)]
        rows.append(open_states)
        cols.append(open_states | (1 << chosen[j]))
        rates.append(np.full(open_states.size, lam[j]))
    r, c, q = np.concatenate(rows), np.concatenate(cols), np.concatenate(rates)
    generator = coo_matrix((q, (r, c)), shape=(1 << n, 1 << n)).tocsr()
    generator = generator - coo_matrix(
        (np.asarray(generator.sum(axis=1)).ravel(), (states, states)), shape=generator.shape
    )
    # pi Q = 0 with pi[0] = 1, then normalise including the queue tail.
    system = generator.T.tolil()
    system[0, :] = 0
    system[0, 0] = 1
    rhs = np.zeros(1 << n)
    rhs[0] = 1
    pi = spsolve(system.tocsr(), rhs)
    tail = pi[full] * ratio / (1 - ratio)  # P(full with k >= 1 queued), unnormalised
    total = pi.sum() + tail
    pi, tail = pi / total, tail / total
    p_wait = float(pi[full] + tail)

    workload = busy.T @ pi + tail
    dispatch = np.zeros((n, lam.size))
    for j in range(lam.size):
        np.add.at(dispatch[:, j], chosen[j], lam[j] * pi[open_states])
    # A queued call goes to the unit that frees first: unit u with probability mu_u / sum(mu).
    dispatch += np.outer(mu / mu.sum(), lam) * p_wait
    dispatch /= lam.sum()
    queued = pi[full] * ratio / (1 - ratio) ** 2  # mean number waiting
    return Hypercube(
        workload=workload,
        dispatch=dispatch,
        p_wait=p_wait,
        mean_wait=float(queued / lam.sum()),
        state_probability=pi,
    )
