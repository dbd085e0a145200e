"""The simulation clock: time of day of a time in the episode (minutes from its start)."""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.config import Simulation

MINUTES_PER_DAY = 1440.0


def clock_minute(simulation: Simulation, now: np.ndarray | float) -> np.ndarray | float:
    """Minutes from midnight of the episode's first day (not wrapped past 24 h)."""
    return simulation.start_hour * 60.0 + now


def minute_of_day(simulation: Simulation, now: np.ndarray | float) -> np.ndarray | float:
    """Minute of the day, in ``[0, 1440)``, of ``now`` minutes into the episode."""
    return clock_minute(simulation, now) % MINUTES_PER_DAY


def hour_of_day(simulation: Simulation, now: np.ndarray | float) -> np.ndarray:
    """Integer clock hour, in ``0..23``, of ``now`` minutes into the episode."""
    return np.floor(clock_minute(simulation, now) / 60.0).astype(np.int64) % 24
