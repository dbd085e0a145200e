"""The simulation clock: time of day from the start hour, across midnight."""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.clock import clock_minute, hour_of_day, minute_of_day
from patrolmarl.envs.config import Simulation


def test_time_of_day_from_the_start_hour_wraps_at_midnight():
    sim = Simulation(start_hour=22.5)
    now = np.array([0.0, 29.0, 30.0, 89.0, 90.0, 1440.0])
    np.testing.assert_array_equal(clock_minute(sim, now), 1350.0 + now)
    np.testing.assert_array_equal(minute_of_day(sim, now), [1350, 1379, 1380, 1439, 0, 1350])
    np.testing.assert_array_equal(hour_of_day(sim, now), [22, 22, 23, 23, 0, 22])
    assert hour_of_day(sim, now).dtype == np.int64
    assert minute_of_day(Simulation(), 61.0) == 61.0
