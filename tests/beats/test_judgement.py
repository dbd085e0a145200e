"""The judgement's share of the source policy's gain kept by the static plan."""

from __future__ import annotations

import pytest

from patrolmarl.beats.judgement import gain_kept


def test_gain_kept():
    assert gain_kept(10.0, 8.0, 6.0) == pytest.approx(0.5)
    assert gain_kept(10.0, 6.0, 6.0) == pytest.approx(1.0)
    assert gain_kept(10.0, 11.0, 6.0) == pytest.approx(-0.25)
    assert gain_kept(10.0, 8.0, 10.0) is None  # the source has no gain
    assert gain_kept(10.0, 8.0, 12.0) is None
    assert gain_kept(10.0, float("nan"), 6.0) is None
