"""The coverage forecast: how fast the units could reach each cell, and how much their presence
deters theft, for all B districts at once.

One implementation, read by the shaped reward (:mod:`patrolmarl.envs.reward`),
the move gains (:mod:`patrolmarl.envs.move_gains`; through them the
observations and the ``coverage`` baseline) and the simulator's theft thinning:

- **travel**: minutes from each available (idle or moving) unit to every cell,
  ``(N, B, C)``, inf for a unit on a call (:meth:`CoverageForecast.travel`);
- **eta**, **owner**, **runner-up**: the travel of the nearest unit of each
  cell, that unit, and the travel of the second nearest (:func:`nearest_two`);
- **nearby presence**: a cell's own presence plus ``neighbour_weight`` times its
  four neighbours' (:func:`nearby_matrix`);
- **the deterrence law** :func:`deterrence_factor` and its slope
  :func:`deterrence_slope`, and the rise of the factor when a part of the
  presence goes (:meth:`CoverageForecast.theft_factor_rise`);
- the **hourly rate tables** of street calls and thefts (:class:`HourlyRates`).

A forecast keeps its last answer for the eta, owner and runner-up of the
available units (:meth:`CoverageForecast.nearest_available`) and for the nearby
presence (:class:`LastAnswer`): an environment's reward and move gains share
one forecast and ask both of the same state in every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from patrolmarl.envs.config import Deterrence
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel


def deterrence_factor(presence: np.ndarray, params: Deterrence) -> np.ndarray:
    """Multiplier on the undeterred theft rate for a nearby presence (patrol-minutes).

    ``1 - max_reduction * (1 - exp(-presence / saturation_minutes))``: 1 with no
    patrol, falling towards ``1 - max_reduction`` as presence saturates.
    """
    return 1.0 - params.max_reduction * (1.0 - np.exp(-presence / params.saturation_minutes))


def deterrence_slope(presence: np.ndarray, params: Deterrence) -> np.ndarray:
    """Derivative of :func:`deterrence_factor` with respect to the presence (negative)."""
    return (
        -params.max_reduction
        / params.saturation_minutes
        * np.exp(-presence / params.saturation_minutes)
    )


def nearby_matrix(neighbour: np.ndarray, weight: float) -> csr_matrix:
    """``(C, C)`` sparse map from presence to nearby presence: own cell plus weighted neighbours."""
    c = neighbour.shape[0]
    valid = neighbour.ravel() >= 0
    rows = np.repeat(np.arange(c), neighbour.shape[1])[valid]
    cols = neighbour.ravel()[valid]
    return csr_matrix(
        (
            np.concatenate([np.ones(c), np.full(rows.size, weight)]),
            (np.concatenate([np.arange(c), rows]), np.concatenate([np.arange(c), cols])),
        ),
        shape=(c, c),
    )


def hourly_share(rate: np.ndarray) -> np.ndarray:
    """Each column's share of its row's total (zero in a row without any): ``(24, X)``."""
    totals = rate.sum(axis=1, keepdims=True)
    return np.divide(rate, totals, out=np.zeros_like(rate), where=totals > 0)


class HourlyRates:
    """The hourly rate tables of a district's street calls and thefts, ``(24, C)`` each.

    Attributes
    ----------
    street, theft
        Patrol-handled calls and deterrable calls (undeterred) per minute.
    street_share, theft_share
        Each cell's share of the hour's street calls and thefts.
    """

    def __init__(self, incidents: IncidentModel) -> None:
        self.street = incidents.street_rate_per_minute()
        self.theft = incidents.rate_per_minute[:, incidents.deterrable, :].sum(axis=1)
        self.street_share = hourly_share(self.street)
        self.theft_share = hourly_share(self.theft)


def nearest_two(travel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest and second nearest of ``(N, ...)`` travel times along the unit axis.

    Returns
    -------
    eta, runner_up, owner
        The smallest travel, the second smallest (equal to ``eta`` where two
        units tie; inf with fewer than two finite values) and the first unit
        index achieving ``eta``; each shaped like ``travel[0]``.
    """
    eta = travel.min(axis=0)
    owner = first_index_of(travel, eta)
    others = travel.reshape(travel.shape[0], -1).copy()
    others[owner.ravel(), np.arange(others.shape[1])] = np.inf
    return eta, others.min(axis=0).reshape(eta.shape), owner


def first_index_of(travel: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """The first index along axis 0 where ``travel`` equals ``eta`` (its minimum): argmin.

    A loop over the (few) units on arrays of the other axes is several times
    faster than ``argmin`` along a leading axis.
    """
    owner = np.zeros(eta.shape, dtype=np.intp)
    for unit in range(travel.shape[0] - 1, -1, -1):
        owner[travel[unit] == eta] = unit
    return owner


class LastAnswer:
    """The answer of a computation on arrays, kept for the inputs it was last asked with.

    The inputs are compared by value (a copy of each is kept), so an answer is
    only given again for exactly the same inputs; answers are made read-only.
    """

    def __init__(self) -> None:
        self._inputs: tuple[np.ndarray, ...] | None = None
        self._answer: Any = None

    def get(self, inputs: tuple[np.ndarray, ...], compute: Callable[[], Any]) -> Any:
        """The kept answer if ``inputs`` equal the last ones, else ``compute()`` (then kept)."""
        last = self._inputs
        if last is None or not all(_same_array(a, b) for a, b in zip(last, inputs, strict=True)):
            answer = compute()
            for array in answer if isinstance(answer, tuple) else (answer,):
                array.flags.writeable = False
            self._inputs = tuple(np.array(a, copy=True) for a in inputs)
            self._answer = answer
        return self._answer


def _same_array(kept: np.ndarray, given: np.ndarray) -> bool:
    return kept.shape == given.shape and kept.dtype == given.dtype and np.array_equal(kept, given)


class CoverageForecast:
    """The static tables of the forecast of one district, and the forecast of a state.

    Parameters
    ----------
    district
        The district: unit travel matrices, neighbours, deterrence parameters.
    incidents
        Its call intensities (for :attr:`rates`).
    """

    def __init__(self, district: District, incidents: IncidentModel) -> None:
        c, n = district.n_cells, district.n_units
        self.rates = HourlyRates(incidents)
        # Travel rows of every (unit, origin cell), float32, plus an all-inf row.
        self._rows = np.concatenate(
            [
                district.unit_travel_minutes.astype(np.float32).reshape(n * c, c),
                np.full((1, c), np.inf, dtype=np.float32),
            ]
        )
        self._unit_row = np.arange(n) * c
        self._inf_row = n * c
        #: The longest trip of any unit in the district (minutes).
        self.longest_trip = float(self._rows[: self._inf_row].max())
        self.deterrence = district.config.deterrence
        # nearby presence = presence @ nearby.T (own cell plus weighted neighbours)
        self.nearby = nearby_matrix(district.neighbour, self.deterrence.neighbour_weight)
        self._nearby_transposed = self.nearby.T
        self._last_nearest = LastAnswer()
        self._last_nearby = LastAnswer()

    def travel(self, unit_cell: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
        """``(N, B, C)`` travel minutes from each unit's cell to every cell.

        ``unit_cell`` is ``(B, N)``; units where ``available`` is False read inf.
        """
        row = self._unit_row + unit_cell
        if available is not None:
            row = np.where(available, row, self._inf_row)
        return np.take(self._rows, row.T, axis=0)

    def nearest_available(
        self, unit_cell: np.ndarray, available: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`nearest_two` of the available units' :meth:`travel`: ``(B, C)`` eta,
        runner-up and owner, read-only.

        The reward and the move gains ask for it on the same state in every
        step; the last answer is kept and given again while ``unit_cell`` and
        ``available`` are unchanged.
        """
        return self._last_nearest.get(
            (unit_cell, available), lambda: nearest_two(self.travel(unit_cell, available))
        )

    def travel_from(self, unit: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """``unit.shape + (C,)`` travel minutes of ``unit`` from ``cell`` to every cell."""
        return np.take(self._rows, self._unit_row[unit] + cell, axis=0)

    def travel_to(self, unit_cell: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """``(K, N)`` travel minutes of every unit from its cell ``unit_cell`` to ``cell[k]``."""
        return self._rows[self._unit_row + unit_cell, cell[:, None]]

    def nearby_presence(self, presence: np.ndarray) -> np.ndarray:
        """``(B, C)`` each cell's own presence plus the weighted presence of its neighbours
        (read-only; the last answer is given again while ``presence`` is unchanged)."""
        return self._last_nearby.get((presence,), lambda: (self.nearby @ presence.T).T)

    def theft_factor(self, presence: np.ndarray) -> np.ndarray:
        """``(B, C)`` deterrence factor of each cell's nearby presence."""
        return deterrence_factor(self.nearby_presence(presence), self.deterrence)

    def theft_factor_rise(
        self, presence: np.ndarray, nearby_parts: np.ndarray, weight: np.ndarray
    ) -> np.ndarray:
        """``(B, K)`` how much the ``weight``-weighted deterrence factor of the cells would
        rise without each part of the presence field.

        ``presence`` is ``(B, C)``; ``nearby_parts`` ``(B, K, C)``, the nearby presence
        of each part (nearby presence is linear, so the field without a part reads
        ``nearby(presence) - nearby(part)``); ``weight`` ``(B, C)``. The result is
        ``sum_c weight(c) * (factor(nearby(presence - part))(c) -
        factor(nearby(presence))(c))``. This runs for every unit at every step, so it
        is evaluated in float32, as the travel tables are (the environments' rewards
        are float32).
        """
        b, k, c = nearby_parts.shape
        # Nearby presence with (row 0) and without (row 1 + j) part j, then -x / saturation.
        exponent = np.empty((b, k + 1, c), dtype=np.float32)
        exponent[:, 0] = self.nearby_presence(presence)
        np.subtract(exponent[:, :1], nearby_parts, out=exponent[:, 1:])
        exponent *= np.float32(-1.0 / self.deterrence.saturation_minutes)
        # factor(x) = 1 - max_reduction + max_reduction * exp(-x / saturation); one exp
        # call for both rows, so a cell the part does not reach rises by exactly zero.
        rise = np.exp(exponent, out=exponent)[:, 1:]
        rise -= exponent[:, :1]
        weighted = rise @ weight.astype(np.float32)[:, :, None]  # (B, K, 1)
        return self.deterrence.max_reduction * weighted[..., 0].astype(np.float64)

    def theft_value(self, presence: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """``(B, C)`` share of the hour's thefts one more presence-minute in a cell deters.

        The derivative of the expected thefts (as shares of the hour's) with
        respect to the presence of each cell, through every cell it is near.
        """
        slope = deterrence_slope(self.nearby_presence(presence), self.deterrence)
        deterred = -self.rates.theft_share[hour] * slope
        return (self._nearby_transposed @ deterred.T).T
