"""A call type's fitted rate, hourly profile and spatial intensity, with its held-out check."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patrolmarl.data.intensity import SpatialFit, fit_spatial, log_likelihood
from patrolmarl.data.temporal import smoothed_hourly_share, weekday_weekend_p_value

TRAIN_SHARE = 0.8  # the held-out check fits on the first 80 % of days


@dataclass(frozen=True)
class TypeFit:
    """What the data says about one call type, and what was fitted from it."""

    name: str
    calls: int
    daily_rate: float
    daily_rate_se: float
    hour_counts: np.ndarray  # (24,)
    hourly_share: np.ndarray  # (24,) smoothed
    cell_counts: np.ndarray  # (C,)
    spatial: SpatialFit
    heldout_gain: float  # nats per held-out call over a uniform-in-space model
    heldout_calls: int
    weekday_weekend_p: float

    @property
    def intensity(self) -> np.ndarray:
        """``(C,)`` expected calls per day in each cell."""
        return self.daily_rate * self.spatial.density


def fit_type(
    name: str,
    cell: np.ndarray,
    day: np.ndarray,
    hour: np.ndarray,
    time: np.ndarray,
    n_days: int,
    area: np.ndarray,
    shape: tuple[int, int],
) -> TypeFit:
    """Fit one call type from its calls' cells, day numbers, hours and times."""
    n = int(cell.size)
    cut = math.ceil(TRAIN_SHARE * n_days)
    train, test = day < cut, day >= cut
    gain, held = float("nan"), int(test.sum())
    if held and train.any():
        early = fit_spatial(cell[train], day[train], area, shape)
        test_counts = np.bincount(cell[test], minlength=area.size)
        uniform = held * math.log(1.0 / area.sum())
        gain = (log_likelihood(early.density, test_counts) - uniform) / held
    return TypeFit(
        name=name,
        calls=n,
        daily_rate=n / n_days,
        daily_rate_se=math.sqrt(n) / n_days,
        hour_counts=np.bincount(hour, minlength=24),
        hourly_share=smoothed_hourly_share(hour),
        cell_counts=np.bincount(cell, minlength=area.size),
        spatial=fit_spatial(cell, day, area, shape),
        heldout_gain=gain,
        heldout_calls=held,
        weekday_weekend_p=weekday_weekend_p_value(time, hour),
    )
