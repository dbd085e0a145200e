"""The planner's combined cost of a day: response minutes of street calls plus lambda x thefts.

lambda (``theft_minutes``) is the response minutes one theft weighs, by default
the shaped reward's theft weight, so the evaluator and training weigh a theft alike.
"""

from __future__ import annotations

import math
from numbers import Real

from patrolmarl.envs.reward import DEFAULT_WEIGHTS
from patrolmarl.errors import PatrolMarlError

#: Response minutes one theft weighs in the combined cost (the reward's theft weight).
DEFAULT_THEFT_MINUTES = DEFAULT_WEIGHTS["theft"]


def check_theft_minutes(value: object) -> float:
    """``value`` as a float, if it is a finite number >= 0.

    Raises
    ------
    PatrolMarlError
        For anything else (a bool, text, NaN, an infinity or a negative number).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise PatrolMarlError(f"theft_minutes must be a number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise PatrolMarlError(f"theft_minutes must be finite and >= 0, got {value!r}")
    return float(value)


def day_costs(parts: dict[str, tuple[float, float]], theft_minutes: float) -> dict[str, float]:
    """One day's costs from its :func:`~patrolmarl.envs.metrics.day_parts`.

    ``combined_cost``: the total response minutes of the street calls reached by
    patrol (the sum ``response_mean`` averages) plus ``theft_minutes`` x the day's
    thefts; ``expected_cost``: the same with the thefts expected where the units
    stood (``expected_thefts``).
    """
    response = parts["response_mean"][0]
    return {
        "combined_cost": response + theft_minutes * parts["thefts"][0],
        "expected_cost": response + theft_minutes * parts["expected_thefts"][0],
    }
