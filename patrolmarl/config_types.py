"""Strict, finite, bounded value types shared by the config models (district, training).

Numbers are strict: an int or a float (an int where a float is expected), never
a boolean (YAML ``yes``/``true``) or a string (``"5"``); floats are finite. Every
number type has an upper bound, so no value of 1e300 reaches numpy.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

#: Ceiling of a number with no tighter limit of its own (weights, coefficients).
MAX_MAGNITUDE = 1e6

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite float; an int is accepted, a bool or a string is not."""
WholeNumber = Annotated[int, Strict()]
"""An int; not a bool, a float or a string."""
Text = Annotated[str, Strict()]
"""A string; not a number or a bool."""
Flag = Annotated[bool, Strict()]
"""A bool; not 0/1 or a string."""


def number(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = MAX_MAGNITUDE,
) -> Any:
    """A finite strict :data:`Number` within the given bounds (at most ``le``, default 1e6)."""
    return Annotated[Number, Field(gt=gt, ge=ge, lt=lt, le=le)]


def whole(*, ge: int, le: int) -> Any:
    """A strict :data:`WholeNumber` in ``[ge, le]``."""
    return Annotated[WholeNumber, Field(ge=ge, le=le)]


PositiveFloat = number(gt=0)
NonNegativeFloat = number(ge=0)
Probability = number(ge=0, le=1)


class StrictModel(BaseModel):
    """Base of every config section: unknown keys refused, frozen, no inf/NaN."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
