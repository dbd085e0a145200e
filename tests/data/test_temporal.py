"""Days, hours and the weekday-versus-weekend test of call times."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2_contingency

from patrolmarl.data.temporal import day_numbers, hours_of_day, weekday_weekend_p_value


def _times(rng: np.random.Generator, n: int, weekend_hour_shift: int) -> np.ndarray:
    day = rng.integers(0, 70, n)  # 2024-01-01 is a Monday
    weekend = (day % 7) >= 5
    hour = (rng.normal(14, 3, n).astype(int) + weekend * weekend_hour_shift) % 24
    minutes = day * 1440 + hour * 60 + rng.integers(0, 60, n)
    return np.datetime64("2024-01-01T00:00", "ns") + minutes.astype("timedelta64[m]")


def test_days_and_hours() -> None:
    t = np.array(["2024-01-01T10:15", "2024-01-06T23:59", "2024-01-03T00:01"], "datetime64[ns]")
    day, n_days = day_numbers(t)
    assert day.tolist() == [0, 5, 2] and n_days == 6
    assert hours_of_day(t).tolist() == [10, 23, 0]


def test_weekday_weekend_test_agrees_with_scipy_and_tells_profiles_apart() -> None:
    rng = np.random.default_rng(3)
    same, shifted = _times(rng, 3000, 0), _times(rng, 3000, 4)
    assert weekday_weekend_p_value(same, hours_of_day(same)) > 0.01
    assert weekday_weekend_p_value(shifted, hours_of_day(shifted)) < 1e-6
    hour = hours_of_day(same)
    weekend = (same.astype("datetime64[D]").astype(np.int64) + 3) % 7 >= 5
    table = np.stack(
        [np.bincount(hour[~weekend], minlength=24), np.bincount(hour[weekend], minlength=24)]
    )
    table = table[:, table.sum(axis=0) > 0]
    assert abs(weekday_weekend_p_value(same, hour) - chi2_contingency(table)[1]) < 1e-12
