"""Baselines with parameters from a policy spec: ``name[:key=value[:key=value...]]``.

``pmedian_theft:theft=120`` is the theft-aware p-median with lambda = 120
response-minutes per theft. The spec string, exactly as given, is the policy's
name in reports. Parameters are the ones a baseline class lists in its
``parameters`` attribute; values are finite non-negative numbers. Specs hold no
commas (``--policies`` is comma-separated).
"""

from __future__ import annotations

import math

from patrolmarl.agents.baselines import BASELINES
from patrolmarl.agents.policy import Policy
from patrolmarl.errors import PatrolMarlError


def is_baseline_spec(spec: str) -> bool:
    """True if ``spec`` names a baseline (possibly unknown) rather than a policy file.

    A known baseline name before the first ``:``, or any ``name:key=value`` form.
    """
    name, _, rest = spec.partition(":")
    return name in BASELINES or (bool(rest) and "=" in rest)


def parse_baseline_spec(spec: str) -> tuple[str, dict[str, float]]:
    """The baseline name and its parameters.

    Raises
    ------
    PatrolMarlError
        One line naming the spec and what is wrong: an unknown baseline, an
        unknown or repeated parameter, a missing ``=``, or a value that is not a
        finite non-negative number.
    """
    name, *items = spec.split(":")
    if name not in BASELINES:
        raise PatrolMarlError(
            f"policy {spec!r}: unknown baseline {name!r} (use one of {', '.join(BASELINES)})"
        )
    allowed = getattr(BASELINES[name], "parameters", ())
    params: dict[str, float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PatrolMarlError(f"policy {spec!r}: expected key=value, got {item!r}")
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise PatrolMarlError(
                f"policy {spec!r}: unknown parameter {key!r} of {name} (parameters: {known})"
            )
        if key in params:
            raise PatrolMarlError(f"policy {spec!r}: parameter {key!r} given twice")
        params[key] = _non_negative_number(spec, key, text.strip())
    return name, params


def build_baseline(spec: str, seed: int = 0) -> Policy:
    """The baseline a spec describes, named by the spec (see :func:`parse_baseline_spec`)."""
    name, params = parse_baseline_spec(spec)
    policy = BASELINES[name](seed=seed, **params)
    policy.name = spec
    return policy


def _non_negative_number(spec: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PatrolMarlError(
            f"policy {spec!r}: parameter {key!r} must be a number, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise PatrolMarlError(
            f"policy {spec!r}: parameter {key!r} must be a finite number >= 0, got {text!r}"
        )
    return value


def theft_sweep_point(spec: str) -> tuple[str, float] | None:
    """``(baseline, lambda)`` if ``spec`` is a theft-weighted baseline, else None.

    ``pmedian_theft:theft=120`` gives ``("pmedian_theft", 120.0)``; without the
    parameter, lambda is the baseline's default. Malformed specs give None.
    """
    if not is_baseline_spec(spec):
        return None
    try:
        name, params = parse_baseline_spec(spec)
    except PatrolMarlError:
        return None
    cls = BASELINES[name]
    if "theft" not in getattr(cls, "parameters", ()):
        return None
    return name, params.get("theft", cls(seed=0).theft)
