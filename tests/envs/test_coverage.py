"""The coverage forecast's nearest/runner-up geometry against numpy's argmin and partition,
and the answer it keeps for the last state asked."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs.coverage import LastAnswer, first_index_of, hourly_share, nearest_two


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


def test_the_last_answer_is_given_again_only_for_equal_inputs():
    kept = LastAnswer()
    calls = []

    def compute(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(x.copy())
        return x * 2.0, x + 1.0

    state = np.arange(6.0).reshape(2, 3)
    first = kept.get((state,), lambda: compute(state))
    again = kept.get((state.copy(),), lambda: compute(state))  # equal values, another array
    assert again is first and len(calls) == 1
    state[1, 2] = 9.0  # the same array changed in place
    changed = kept.get((state,), lambda: compute(state))
    assert len(calls) == 2
    np.testing.assert_array_equal(changed[0], state * 2.0)
    kept.get((state.astype(np.float32),), lambda: compute(state))  # another dtype
    kept.get((state[:1],), lambda: compute(state))  # another shape
    assert len(calls) == 4
    with pytest.raises(ValueError, match="read-only"):
        changed[1][0, 0] = 5.0
