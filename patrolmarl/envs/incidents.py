"""The incident model: call intensities by type, hour and cell, and the day's call stream.

A day's calls depend only on its seed: they are drawn once, at reset, as an
exact non-homogeneous Poisson process (piecewise constant by the hour), so every
policy run on the same seed meets the same calls. Theft is the one endogenous
stream: candidate thefts are drawn at the undeterred rate with a uniform each,
and the simulator keeps a candidate only if its uniform falls below the
deterrence factor of the cell when it happens (thinning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from patrolmarl.envs.clock import clock_minute, hour_of_day
from patrolmarl.envs.config import CallType
from patrolmarl.envs.district import District


@dataclass(frozen=True)
class DayCalls:
    """One day's exogenous calls, sorted by time (minutes from the episode start).

    ``closure_u`` decides on-scene closure (closed if below the type's closure
    probability); ``theft_u`` thins deterrable candidates.
    """

    time: np.ndarray
    type: np.ndarray
    cell: np.ndarray
    service: np.ndarray
    closure_u: np.ndarray
    theft_u: np.ndarray

    def __len__(self) -> int:
        return int(self.time.shape[0])


class IncidentModel:
    """Call intensities and the day generator of one district.

    Attributes
    ----------
    type_names
        Call type names, in config order.
    rate_per_minute
        ``(24, T, C)`` expected calls per minute by hour of day, type and cell.
    patrol_type, deterrable, priority, closure_prob
        ``(T,)`` per call type.
    """

    def __init__(self, district: District) -> None:
        self.district = district
        cfg = district.config
        self.type_names: tuple[str, ...] = tuple(cfg.call_types)
        types = [cfg.call_types[n] for n in self.type_names]
        self._types = types
        self.patrol_type = np.array([t.handler == "patrol" for t in types])
        self.deterrable = np.array([t.deterrable for t in types])
        self.priority = np.array([t.priority for t in types], dtype=np.int64)
        self.closure_prob = np.array([t.closure_prob for t in types])
        spatial = np.stack([_spatial_weights(district, t) for t in types])  # (T, C)
        hourly = np.array([t.hourly_profile for t in types], dtype=float)  # (T, 24)
        hourly = hourly / hourly.sum(axis=1, keepdims=True)
        daily = np.array([t.daily_rate for t in types])
        # calls per minute = daily rate * share of the hour * share of the cell / 60
        self.rate_per_minute = (
            daily[None, :, None] * hourly.T[:, :, None] * spatial[None, :, :] / 60.0
        )
        self._simulation = cfg.simulation
        self._horizon = cfg.simulation.episode_minutes

    @property
    def n_types(self) -> int:
        """Number of call types ``T``."""
        return len(self.type_names)

    def street_rate_per_minute(self) -> np.ndarray:
        """``(24, C)`` patrol-handled call intensity per minute (undeterred)."""
        return self.rate_per_minute[:, self.patrol_type, :].sum(axis=1)

    def generate_day(self, seed: int | Sequence[int]) -> DayCalls:
        """Draw the calls of one episode from its seed."""
        rng = np.random.default_rng(seed)
        edges = _hour_edges(clock_minute(self._simulation, 0.0), self._horizon)
        lengths = np.diff(edges)
        hours = hour_of_day(self._simulation, edges[:-1])
        flat = self.rate_per_minute.reshape(24, -1)  # (24, T*C)
        totals = flat[hours].sum(axis=1) * lengths
        counts = rng.poisson(totals)
        times, codes = [], []
        for seg, n in enumerate(counts):
            if n == 0:
                continue
            times.append(edges[seg] + rng.random(n) * lengths[seg])
            p = flat[hours[seg]]
            cdf = np.cumsum(p / p.sum())
            codes.append(np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), p.size - 1))
        time = np.concatenate(times) if times else np.zeros(0)
        code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
        order = np.argsort(time, kind="stable")
        time, code = time[order], code[order]
        call_type, cell = np.divmod(code, self.district.n_cells)
        service = np.zeros(time.shape[0])
        for t, spec in enumerate(self._types):
            sel = call_type == t
            service[sel] = _draw_service(rng, spec, int(sel.sum()))
        return DayCalls(
            time=time,
            type=call_type.astype(np.int64),
            cell=cell.astype(np.int64),
            service=service,
            closure_u=rng.random(time.shape[0]),
            theft_u=rng.random(time.shape[0]),
        )


def _hour_edges(start_minute: float, horizon: float) -> np.ndarray:
    """Segment edges (minutes from the episode start) at every clock-hour boundary."""
    first = (np.floor(start_minute / 60.0) + 1) * 60.0 - start_minute
    inner = np.arange(first, horizon, 60.0)
    return np.concatenate([[0.0], inner[inner < horizon], [horizon]])


def _spatial_weights(district: District, spec: CallType) -> np.ndarray:
    """Share of a call type's calls in each cell: cell or land-use weight times hotspot bumps."""
    if spec.cell_intensity is not None:
        base = np.asarray(spec.cell_intensity, dtype=float).ravel()
    else:
        weights = spec.land_use_weights or {}
        lu = district.land_use_codes
        base = np.array([weights.get(code, 0.0) for code in lu])[district.land_use_of_cell]
    rc = district.cell_rc
    bump = np.ones(district.n_cells)
    for hs in spec.hotspots:
        d2 = ((rc - np.array(hs.cell)) ** 2).sum(axis=1)
        bump += (hs.multiplier - 1.0) * np.exp(-d2 / (2.0 * hs.radius_cells**2))
    w = base * np.maximum(bump, 0.0)
    total = w.sum()
    if total <= 0:
        return np.full(district.n_cells, 1.0 / district.n_cells)
    return w / total


def _draw_service(rng: np.random.Generator, spec: CallType, n: int) -> np.ndarray:
    s = spec.service
    if s.dist == "fixed":
        return np.full(n, s.mean)
    if s.dist == "exponential":
        return rng.exponential(s.mean, n)
    sigma2 = np.log1p((s.sd / s.mean) ** 2)
    return rng.lognormal(np.log(s.mean) - sigma2 / 2.0, np.sqrt(sigma2), n)
