"""The coverage forecast's nearest/runner-up geometry against numpy's argmin and partition."""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.coverage import first_index_of, hourly_share, nearest_two


def test_nearest_two_is_argmin_and_partition_with_ties_and_busy_units():
    rng = np.random.default_rng(0)
    # Few distinct values so that ties are common; inf rows are units on a call.
    travel = rng.integers(0, 4, size=(6, 5, 30)).astype(np.float32)
    travel[2] = np.inf
    travel[:, 3, :] = np.inf  # a district with no unit available
    travel[1:, 4, :5] = np.inf  # cells only one unit can reach
    eta, runner_up, owner = nearest_two(travel)
    np.testing.assert_array_equal(owner, travel.argmin(axis=0))
    two = np.partition(travel, 1, axis=0)
    np.testing.assert_array_equal(eta, two[0])
    np.testing.assert_array_equal(runner_up, two[1])
    assert (runner_up[4, :5] == np.inf).all() and (eta[3] == np.inf).all()


def test_first_index_of_breaks_ties_towards_the_lower_unit():
    travel = np.array([[3.0, 1.0], [1.0, 1.0], [1.0, 2.0]])
    np.testing.assert_array_equal(first_index_of(travel, travel.min(axis=0)), [1, 0])


def test_hourly_share_sums_to_one_or_zero():
    rate = np.array([[1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_array_equal(hourly_share(rate), [[0.25, 0.75], [0.0, 0.0]])
