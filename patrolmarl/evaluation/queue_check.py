"""The simulator as a queue: one cell, travel 0, NEAREST dispatch, exponential service.

On a 1x1 grid every unit is at travel 0 from every call, so under the NEAREST
rule (a call goes at its arrival instant to the lowest-index available unit,
else waits FCFS for the first unit released) the simulator is the M/M/c FCFS
queue with ordered entry: Erlang C for the waits, and Larson's hypercube with
one atom and preference list ``0, 1, ..., c-1`` for each unit's workload and
share of dispatches (:mod:`patrolmarl.evaluation.queueing`).

Estimates come from independent days (rows of one :class:`BatchedSim`): each
day starts empty, its first ``warm_up`` minutes are discarded, calls arriving in
the next ``window`` minutes are measured, and a final ``drain`` lets them be
dispatched. A ratio over days (e.g. waited calls / calls) has the delta-method
standard error from the day-to-day spread, so a check can say whether its
sample resolves a given relative bound (``k`` standard errors within it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import NEAREST
from patrolmarl.envs.district import District

#: Standard errors a measured value may stray from the exact one.
SIGMAS = 4.0
#: Waits above this are counted as waits (dispatch and arrival are the same float otherwise).
WAIT_EPS = 1e-9
#: Most calls simulated at once (the call log's memory); more days run in chunks.
MAX_CHUNK_CALLS = 500_000


def mmc_district(
    servers: int, calls_per_minute: float, mean_service: float, minutes: int
) -> District:
    """A 1x1 district with ``servers`` units, Poisson calls and exponential service.

    The step is the config default (1 minute); the episode lasts ``minutes``.
    """
    raw = {
        "name": "mmc",
        "cell_size_m": 400,
        "land_use_map": ["S"],
        "precinct_map": ["1"],
        "land_uses": {"S": {"name": "street", "road_speed_kmh": 20}},
        "precincts": {"1": {"name": "only"}},
        "vehicles": {"car": {"max_speed_kmh": 30}},
        "units": [{"count": servers, "vehicle": "car", "precinct": "1"}],
        "call_types": {
            "call": {
                "daily_rate": calls_per_minute * 1440,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1.0},
                "service": {"dist": "exponential", "mean": mean_service},
            }
        },
        "simulation": {"episode_minutes": minutes, "observed_calls": 1},
    }
    return District.from_config(validate_district_dict(raw, "<mmc>"))


@dataclass(frozen=True)
class Estimate:
    """A ratio estimate over days and its standard error."""

    value: float
    se: float

    def rel_error(self, exact: float) -> float:
        """``(value - exact) / exact``."""
        return (self.value - exact) / exact

    def rel_se(self, exact: float) -> float:
        """The standard error relative to ``exact``."""
        return self.se / exact

    def resolves(self, exact: float, bound: float) -> bool:
        """Whether ``SIGMAS`` standard errors fit inside the relative ``bound``."""
        return SIGMAS * self.se <= bound * exact

    def agrees(self, exact: float) -> bool:
        """Whether the value is within ``SIGMAS`` standard errors of ``exact``."""
        return abs(self.value - exact) <= SIGMAS * self.se


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
    """``sum(numerator) / sum(denominator)`` over days, with its delta-method standard error."""
    days = numerator.size
    if days < 2 or denominator.sum() <= 0:
        raise ValueError(f"a ratio over days needs at least 2 days with calls, got {days}")
    r = numerator.sum() / denominator.sum()
    spread = ((numerator - r * denominator) ** 2).sum() / (days * (days - 1))
    return Estimate(float(r), float(math.sqrt(spread) / denominator.mean()))


@dataclass(frozen=True)
class QueuePoint:
    """One M/M/c configuration: ``servers`` units at utilisation ``rho``."""

    servers: int
    rho: float
    mean_service: float = 2.0

    @property
    def offered(self) -> float:
        """Offered load ``lambda / mu`` (Erlangs)."""
        return self.rho * self.servers

    @property
    def calls_per_minute(self) -> float:
        """Arrival rate ``lambda``."""
        return self.offered / self.mean_service

    def relaxation_minutes(self) -> float:
        """Time scale of the approach to stationarity from empty: the M/M/1 rate
        ``mu c (1 - sqrt(rho))^2`` of the number in system, or the service time if longer."""
        return self.mean_service * max(1.0, 1.0 / (self.servers * (1 - math.sqrt(self.rho)) ** 2))

    def default_windows(self, max_minutes: int = 10_080) -> tuple[int, int, int]:
        """``(warm_up, window, drain)`` minutes: 6 relaxation times of warm-up, a drain of 12
        mean conditional waits, and a window of 20 relaxation times (at least 600 minutes)
        cut to fit ``max_minutes``."""
        tau = self.relaxation_minutes()
        warm_up = math.ceil(6 * tau)
        drain = math.ceil(12 * self.mean_service / (self.servers * (1 - self.rho)))
        window = min(max(math.ceil(20 * tau), 600), max_minutes - warm_up - drain)
        if window < 4 * tau:
            raise ValueError(f"{self} needs more than {max_minutes} minutes a day")
        return warm_up, window, drain


@dataclass
class DaySample:
    """Per-day sums over the window's calls (``(days,)`` arrays) and per-unit figures.

    ``busy_minutes[d, n]``: minutes unit n was busy within the window; ``dispatches[d, n]``:
    window calls unit n took. ``censored``: window calls still waiting at the episode end
    (their wait counted up to the end).
    """

    calls: np.ndarray
    waited: np.ndarray
    wait_minutes: np.ndarray
    busy_minutes: np.ndarray
    dispatches: np.ndarray
    window_minutes: float
    censored: int

    def concat(self, other: DaySample) -> DaySample:
        """Both samples' days together."""
        return DaySample(
            *(
                np.concatenate([getattr(self, f), getattr(other, f)])
                for f in ("calls", "waited", "wait_minutes", "busy_minutes", "dispatches")
            ),
            window_minutes=self.window_minutes,
            censored=self.censored + other.censored,
        )

    @property
    def days(self) -> int:
        """Days in the sample."""
        return int(self.calls.size)

    def p_wait(self) -> Estimate:
        """Fraction of calls that waited."""
        return ratio(self.waited, self.calls)

    def mean_wait(self) -> Estimate:
        """Mean wait (minutes) over all calls."""
        return ratio(self.wait_minutes, self.calls)

    def workload(self, unit: int) -> Estimate:
        """Fraction of window time ``unit`` was busy."""
        return ratio(self.busy_minutes[:, unit], np.full(self.days, self.window_minutes))

    def dispatch_share(self, unit: int) -> Estimate:
        """Fraction of the window's calls that ``unit`` took."""
        return ratio(self.dispatches[:, unit], self.calls)


def chunk_days(point: QueuePoint, windows: tuple[int, int, int] | None = None) -> int:
    """Days :func:`run_mmc` simulates at once (``MAX_CHUNK_CALLS`` expected calls, at least 8)."""
    minutes = sum(point.default_windows() if windows is None else windows)
    return max(8, int(MAX_CHUNK_CALLS / (point.calls_per_minute * minutes)))


def run_mmc(
    point: QueuePoint,
    days: int,
    seed: int,
    windows: tuple[int, int, int] | None = None,
    first_day: int = 0,
) -> DaySample:
    """Days ``first_day .. first_day + days - 1`` of ``point`` under NEAREST, all units staying
    put; day d is seeded ``[seed, d]``, so the days do not depend on the chunking."""
    warm_up, window, drain = point.default_windows() if windows is None else windows
    district = mmc_district(
        point.servers, point.calls_per_minute, point.mean_service, warm_up + window + drain
    )
    chunk = chunk_days(point, windows)
    sample: DaySample | None = None
    for start in range(first_day, first_day + days, chunk):
        size = min(chunk, first_day + days - start)
        sim = BatchedSim(district, batch_size=size)
        sim.set_dispatch(NEAREST)
        sim.reset(seeds=[[seed, d] for d in range(start, start + size)])
        stay = np.zeros((size, point.servers), dtype=np.int64)
        while not sim.done.all():
            sim.step(stay)
        more = _window_sums(sim, warm_up, warm_up + window, point.servers)
        sample = more if sample is None else sample.concat(more)
    if sample is None:
        raise ValueError(f"run_mmc needs at least one day, got {days}")
    return sample


def _window_sums(sim: BatchedSim, start: float, end: float, servers: int) -> DaySample:
    log, days = sim.calls, sim.batch_size
    horizon = float(sim.now.max())
    live = np.arange(log.time.shape[1]) < log.n_calls[:, None]
    in_window = live & (log.time >= start) & (log.time < end)
    dispatched = ~np.isnan(log.dispatch_time)
    censored = in_window & ~dispatched
    wait = np.where(dispatched, log.dispatch_time, horizon) - log.time
    # Unit busy time inside the window: service intervals from arrival (travel is 0).
    served = live & ~np.isnan(log.arrival_time)
    begin = np.where(served, log.arrival_time, 0.0)
    finish = np.where(served, np.minimum(begin + log.service, horizon), 0.0)
    overlap = np.clip(np.minimum(finish, end) - np.maximum(begin, start), 0.0, None)
    unit = np.where(served, log.unit, 0)
    busy = np.zeros((days, servers))
    took = np.zeros((days, servers))
    rows = np.broadcast_to(np.arange(days)[:, None], unit.shape)
    np.add.at(busy, (rows[served], unit[served]), overlap[served])
    taken = in_window & dispatched
    np.add.at(took, (rows[taken], log.unit[taken]), 1.0)
    return DaySample(
        calls=in_window.sum(axis=1).astype(float),
        waited=(in_window & (wait > WAIT_EPS)).sum(axis=1).astype(float),
        wait_minutes=np.where(in_window, wait, 0.0).sum(axis=1),
        busy_minutes=busy,
        dispatches=took,
        window_minutes=end - start,
        censored=int(censored.sum()),
    )
