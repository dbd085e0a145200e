"""The judgement: the share of the source policy's gain kept by the static plan, the workload CV."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.beats.judgement import gain_kept, workload_cv


def test_gain_kept():
    assert gain_kept(10.0, 8.0, 6.0) == pytest.approx(0.5)
    assert gain_kept(10.0, 6.0, 6.0) == pytest.approx(1.0)
    assert gain_kept(10.0, 11.0, 6.0) == pytest.approx(-0.25)
    assert gain_kept(10.0, 8.0, 10.0) is None  # the source has no gain
    assert gain_kept(10.0, 8.0, 12.0) is None
    assert gain_kept(10.0, float("nan"), 6.0) is None


def test_workload_cv_pools_the_days_before_comparing_units():
    # Two units, two days: each day one unit does all the work, over both days they share it.
    minutes = np.array([[60.0, 0.0], [0.0, 60.0]])
    assert workload_cv(minutes) == pytest.approx(0.0)
    assert workload_cv(minutes[:1]) == pytest.approx(1.0)
    batched = np.stack([minutes, minutes[[0, 0]]])  # (resamples, days, units)
    np.testing.assert_allclose(workload_cv(batched), [0.0, 1.0])
