"""When calls happen: days covered, daily rates, smoothed hourly profiles, weekday vs weekend."""

from __future__ import annotations

import numpy as np

# Circular smoothing of hourly counts: each hour with a quarter of each neighbour's.
HOURLY_KERNEL = (0.25, 0.5, 0.25)


def day_numbers(time: np.ndarray) -> tuple[np.ndarray, int]:
    """Each call's day counted from the first call's date, and the number of days covered."""
    days = time.astype("datetime64[D]").astype(np.int64)
    first = int(days.min())
    number = days - first
    return number, int(number.max()) + 1


def hours_of_day(time: np.ndarray) -> np.ndarray:
    """Hour of day (0..23) of each wall-clock time."""
    minutes = (time - time.astype("datetime64[D]")).astype("timedelta64[m]").astype(np.int64)
    return minutes // 60


def smoothed_hourly_share(hour: np.ndarray) -> np.ndarray:
    """``(24,)`` share of calls by hour of day, smoothed circularly by :data:`HOURLY_KERNEL`."""
    counts = np.bincount(hour, minlength=24).astype(float)
    left, mid, right = HOURLY_KERNEL
    smooth = left * np.roll(counts, 1) + mid * counts + right * np.roll(counts, -1)
    return smooth / smooth.sum()


def weekday_weekend_p_value(time: np.ndarray, hour: np.ndarray) -> float:
    """p-value of a chi-square test that weekdays and weekends share one hourly profile.

    NaN when either has no calls (nothing to compare).
    """
    from scipy.special import chdtrc  # the chi-square survival function (scipy.stats is slow)

    weekday = (time.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 0 = Monday
    weekend = weekday >= 5
    table = np.stack(
        [np.bincount(hour[~weekend], minlength=24), np.bincount(hour[weekend], minlength=24)]
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return float("nan")
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return float(chdtrc(table.shape[1] - 1, statistic))
