"""The dense shaped reward of a :class:`BatchedSim`, for all B districts at once.

Realised response times are sparse (a street call every hour or so), so the
environments train on a dense team signal computed from the simulator's state
after each step ``[t0, t1)``. In minutes (lower cost is better; the reward is
its negative)::

    cost = response * expected_response   # forecast for the placement at t1
         + waiting  * waiting_minutes     # realised during [t0, t1)
         + theft    * expected_thefts     # forecast for the presence at t1
         - closure  * closed_calls        # realised during [t0, t1)

- ``expected_response``: the response minutes the street calls of the next
  step are expected to cost, ``step * sum_c rate(hour, c) * eta(c)``, where
  ``rate`` is the patrol-handled call intensity per minute of cell ``c`` and
  ``eta(c)`` the travel minutes to ``c`` of the nearest available (idle or
  moving) unit. When no unit is available, ``eta`` is the time until the first
  busy unit could get there (its remaining task plus travel from its call's cell).
- ``waiting_minutes``: the minutes street calls spent unreached (pending or with
  a unit en route) during the step. Summed over an episode this is exactly the
  total response time of the calls reached plus the waiting of those still
  open, so it ties the forecast to the realised outcome.
- ``expected_thefts``: expected deterrable calls (thefts) of the next step given
  the presence field at t1, ``step * sum_c theft_rate(hour, c) * factor(c)`` with
  the simulator's own deterrence factor of the cell's nearby presence.
- ``closed_calls``: street calls reached during the step (arrival in
  ``[t0, t1)``) and closed on scene. Closure is drawn per call and does not
  depend on the policy in this model, so this term only rewards reaching calls
  within the horizon; it is off by default.

Credit (who is paid what):

- ``team``: every unit of a district gets the district's reward.
- ``local``: each term is split among the units so that their rewards add up
  to the team reward: a cell's expected response and theft go to the unit
  nearest it, a call's waiting to the unit sent to it (or, while pending, the
  nearest available unit), a closure to the unit that closed it.
- ``difference``: a unit's response term is its difference reward, how much
  more the next step's calls would cost without it, ``sum over the cells it is
  nearest to of rate(c) * (second_eta(c) - eta(c))``; only the unit's own
  placement moves it and it is aligned with the team's expected response; the
  waiting and theft terms stay shared.
- ``difference_all``: the response term as in ``difference`` and the theft term
  the unit's difference reward too, how many more thefts the next step would
  expect without the patrol-minutes the unit itself put into the presence
  field, ``E_thefts(P - P_u) - E_thefts(P)`` (the simulator keeps each unit's
  part of the nearby presence, :meth:`BatchedSim.track_unit_presence`). So a
  unit's response-and-theft credit differs from the team's forecast terms by
  what the others would achieve without it, which its own actions do not move.
  Waiting and closure stay shared: under the command centre's dispatch the
  waiting is the realised counterpart of the response forecast already
  credited, and a per-unit share of it would pay units for staying away from
  calls.
- ``team_difference``: the team reward plus the unit's marginal response value.

Evaluate on realised outcomes (:mod:`patrolmarl.envs.metrics`), never on this.
"""

from __future__ import annotations

import numpy as np

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.coverage import CoverageForecast
from patrolmarl.envs.status import ASSIGNED, EN_ROUTE, PENDING, SERVED, is_available

#: Default weights: minutes of response per minute of response; a theft is
#: weighed like an hour of response delay; no bonus for on-scene closure.
DEFAULT_WEIGHTS: dict[str, float] = {
    "response": 1.0,
    "waiting": 1.0,
    "theft": 60.0,
    "closure": 0.0,
}


CREDITS = ("team", "local", "difference", "difference_all", "team_difference")


class ShapedReward:
    """The shaped team reward of a :class:`BatchedSim`, with its constants precomputed.

    Parameters
    ----------
    sim
        The simulator whose current state is scored; read on every call.
    response
        Weight of the expected response minutes of the placement (default 1).
    waiting
        Weight of the minutes calls waited unreached during the step (default 1).
    theft
        Weight of one expected theft, in response-minute equivalents (default 60).
    closure
        Bonus per street call closed on scene during the step (default 0).
    credit
        "team": every unit gets its district's reward; "local": the terms are
        split among units (see the module docstring), adding up to the team
        reward; "difference": the response term is each unit's marginal value;
        "difference_all": the theft term too (the unit's marginal deterrence;
        turns on the simulator's per-unit presence, so build the reward before
        presence builds up); "team_difference": the team reward plus the
        marginal response value.

    Examples
    --------
    >>> reward = ShapedReward(sim, theft=30.0)
    >>> sim.step(actions)
    >>> r = reward()  # (B, N), the same team reward for every unit of a district
    """

    def __init__(
        self,
        sim: BatchedSim,
        *,
        response: float = DEFAULT_WEIGHTS["response"],
        waiting: float = DEFAULT_WEIGHTS["waiting"],
        theft: float = DEFAULT_WEIGHTS["theft"],
        closure: float = DEFAULT_WEIGHTS["closure"],
        credit: str = "team",
    ) -> None:
        if credit not in CREDITS:
            raise ValueError(f"credit must be one of {', '.join(CREDITS)}, not {credit!r}")
        self.sim = sim
        self.credit = credit
        if credit == "difference_all":
            sim.track_unit_presence()
        self.weights = {
            "response": float(response),
            "waiting": float(waiting),
            "theft": float(theft),
            "closure": float(closure),
        }
        self.forecast = CoverageForecast(sim.district, sim.incidents)
        self._street_rate = self.forecast.rates.street  # (24, C)
        self._theft_rate = self.forecast.rates.theft  # (24, C)

    def __call__(self) -> np.ndarray:
        """``(B, N)`` float64 reward of each unit, by the credit."""
        if self.credit == "local":
            return self.unit_rewards()
        if self.credit in ("difference", "difference_all"):
            return self.difference_rewards()
        total = np.repeat(self.team_reward()[:, None], self.sim.n_units, axis=1)
        if self.credit == "team_difference":
            return total + self.weights["response"] * self.marginal_response()
        return total

    def difference_rewards(self) -> np.ndarray:
        """``(B, N)``: each unit's marginal response value plus the shared other terms.

        The response part is ``response * step * sum_c rate(c) * (eta_without_unit(c) -
        eta(c))`` over the cells the unit is nearest to (zero for unavailable
        units); waiting and closure are the team's, as in :meth:`team_reward`; so
        is theft, except under ``difference_all`` credit, where it is the unit's
        ``theft *`` :meth:`marginal_thefts`.
        """
        w = self.weights
        shared = w["closure"] * self.closed_calls() - w["waiting"] * self.waiting_minutes()
        own = w["response"] * self.marginal_response()
        if self.credit == "difference_all":
            own += w["theft"] * self.marginal_thefts()
        else:
            shared -= w["theft"] * self.expected_thefts()
        return own + shared[:, None]

    def marginal_thefts(self) -> np.ndarray:
        """``(B, N)`` how many more thefts the next step would expect without each unit's
        own patrol-minutes in the presence field: ``E_thefts(P - P_u) - E_thefts(P)``.

        Needs the simulator's per-unit presence (``difference_all`` credit turns it on);
        see :meth:`CoverageForecast.theft_factor_rise`.
        """
        sim = self.sim
        if sim.unit_nearby_presence is None:
            raise RuntimeError("marginal_thefts() needs sim.track_unit_presence()")
        rate = sim.step_minutes * self._theft_rate[sim.hour_of_day]  # (B, C)
        return self.forecast.theft_factor_rise(sim.presence, sim.unit_nearby_presence, rate)

    def marginal_response(self) -> np.ndarray:
        """``(B, N)`` how many more expected response minutes the next step would cost
        without each unit (zero for units on a call)."""
        sim = self.sim
        b, n = sim.batch_size, sim.n_units
        if n > 1:
            available = is_available(sim.unit_status)
            nearest, second, owner = self.forecast.nearest_available(sim.unit_cell, available)
        else:
            travel = self._available_travel()
            nearest, second, owner = travel[0], travel[0], np.zeros(travel.shape[1:], np.intp)
        with np.errstate(invalid="ignore"):
            gap = second - nearest
        # With one (or no) unit available the marginal value is unbounded: cap it at the
        # district's longest trip so that rewards stay finite.
        gap = np.where(np.isfinite(gap), gap, self.forecast.longest_trip)
        gap = np.where(np.isfinite(nearest), gap, 0.0)
        value = sim.step_minutes * self._street_rate[sim.hour_of_day] * gap  # (B, C)
        flat_owner = (np.arange(b)[:, None] * n + owner).ravel()
        return np.bincount(flat_owner, value.ravel(), minlength=b * n).reshape(b, n)

    def unit_rewards(self) -> np.ndarray:
        """``(B, N)`` local-credit rewards; each district's row sums to its team reward."""
        sim = self.sim
        b, n = sim.batch_size, sim.n_units
        eta, owner = self._eta_and_owner()
        flat_owner = (np.arange(b)[:, None] * n + owner).ravel()
        hour = sim.hour_of_day
        response = sim.step_minutes * self._street_rate[hour] * eta
        thefts = sim.step_minutes * self._theft_rate[hour] * self._theft_factor()
        w = self.weights
        cost = np.bincount(
            flat_owner,
            (w["response"] * response + w["theft"] * thefts).ravel(),
            minlength=b * n,
        ).reshape(b, n)
        cost += w["waiting"] * self._waiting_by_unit()
        cost -= w["closure"] * self._closed_by_unit()
        return -cost

    def team_reward(self) -> np.ndarray:
        """``(B,)`` the weighted reward of each district."""
        terms = self.components()
        w = self.weights
        return (
            w["closure"] * terms["closed_calls"]
            - w["response"] * terms["expected_response"]
            - w["waiting"] * terms["waiting_minutes"]
            - w["theft"] * terms["expected_thefts"]
        )

    def components(self) -> dict[str, np.ndarray]:
        """The unweighted ``(B,)`` terms: see the module docstring."""
        return {
            "expected_response": self.expected_response(),
            "waiting_minutes": self.waiting_minutes(),
            "expected_thefts": self.expected_thefts(),
            "closed_calls": self.closed_calls(),
        }

    def eta(self) -> np.ndarray:
        """``(B, C)`` minutes until a unit could reach each cell (nearest available first)."""
        return self._eta_and_owner()[0]

    def _available_travel(self) -> np.ndarray:
        """``(N, B, C)`` travel minutes from each unit to every cell; inf for busy units."""
        sim = self.sim
        return self.forecast.travel(sim.unit_cell, is_available(sim.unit_status))

    def _eta_and_owner(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`eta` and the ``(B, C)`` index of the unit achieving it."""
        sim = self.sim
        status = sim.unit_status
        available = is_available(status)
        travel = self._available_travel()
        owner = travel.argmin(axis=0)  # (B, C)
        eta = np.take_along_axis(travel, owner[None], axis=0)[0]
        none = ~available.any(axis=1)
        if none.any():
            # No unit free: the first busy unit to finish its task, from its call's cell.
            b = np.flatnonzero(none)
            remaining = np.maximum(sim.unit_free_at[b] - sim.now[b, None], 0.0)
            service = np.take_along_axis(
                sim.calls.service[b], np.maximum(sim.unit_call[b], 0), axis=1
            )
            remaining += np.where(status[b] == EN_ROUTE, service, 0.0)
            busy_rows = self.forecast.travel(sim.unit_target[b])  # (N, b, C)
            busy = busy_rows + remaining.T[..., None]
            owner[b] = busy.argmin(axis=0)
            eta[b] = np.take_along_axis(busy, owner[b][None], axis=0)[0]
        return eta, owner

    def expected_response(self) -> np.ndarray:
        """``(B,)`` expected response minutes of the next step's street calls."""
        sim = self.sim
        rate = self._street_rate[sim.hour_of_day]  # (B, C)
        return sim.step_minutes * np.einsum("bc,bc->b", rate, self.eta())

    def waiting_minutes(self) -> np.ndarray:
        """``(B,)`` minutes street calls spent unreached during the last step."""
        return self._waiting_per_call().sum(axis=1)

    def _waiting_per_call(self) -> np.ndarray:
        """``(B, D)`` minutes each call of the day spent unreached during the last step."""
        sim = self.sim
        log = sim.calls
        t1 = sim.now.astype(float)[:, None]
        t0 = t1 - sim.step_minutes
        status = log.status
        unreached = (status == PENDING) | (status == ASSIGNED)
        reached_at = np.where(
            status == SERVED, log.arrival_time, np.where(unreached, np.inf, -np.inf)
        )
        with np.errstate(invalid="ignore"):
            overlap = np.minimum(t1, reached_at) - np.maximum(t0, log.time)
        return np.where(overlap > 0, overlap, 0.0)

    def _waiting_by_unit(self) -> np.ndarray:
        """``(B, N)`` waiting minutes charged to the unit sent (or nearest available, or all)."""
        sim = self.sim
        b, n = sim.batch_size, sim.n_units
        waited = self._waiting_per_call()
        bi, ci = np.nonzero(waited)
        out = np.zeros((b, n))
        if bi.size == 0:
            return out
        minutes = waited[bi, ci]
        unit = sim.calls.unit[bi, ci].copy()
        open_ = unit < 0
        if open_.any():
            ob, oc = bi[open_], ci[open_]
            available = is_available(sim.unit_status[ob])
            travel = self.forecast.travel_to(sim.unit_cell[ob], sim.calls.cell[ob, oc])
            travel = np.where(available, travel, np.inf)
            nearest = travel.argmin(axis=1)
            unit[open_] = np.where(available.any(axis=1), nearest, -1)
        shared = unit < 0  # nobody available: the whole district shares the wait
        np.add.at(out, (bi[~shared], unit[~shared]), minutes[~shared])
        np.add.at(out, bi[shared], (minutes[shared] / n)[:, None])
        return out

    def expected_thefts(self) -> np.ndarray:
        """``(B,)`` expected thefts of the next step given the presence field now."""
        sim = self.sim
        rate = self._theft_rate[sim.hour_of_day]  # (B, C)
        return sim.step_minutes * np.einsum("bc,bc->b", rate, self._theft_factor())

    def _theft_factor(self) -> np.ndarray:
        """``(B, C)`` deterrence factor of each cell's nearby presence now."""
        return self.forecast.theft_factor(self.sim.presence)

    def closed_calls(self) -> np.ndarray:
        """``(B,)`` street calls reached during the last step and closed on scene."""
        return self._closed_mask().sum(axis=1).astype(float)

    def _closed_mask(self) -> np.ndarray:
        sim = self.sim
        log = sim.calls
        t1 = sim.now.astype(float)[:, None]
        t0 = t1 - sim.step_minutes
        with np.errstate(invalid="ignore"):
            arrived = (log.arrival_time >= t0) & (log.arrival_time < t1)
        return arrived & log.closed & (log.status == SERVED)

    def _closed_by_unit(self) -> np.ndarray:
        """``(B, N)`` closures of the last step, credited to the unit that closed the call."""
        bi, ci = np.nonzero(self._closed_mask())
        out = np.zeros((self.sim.batch_size, self.sim.n_units))
        np.add.at(out, (bi, self.sim.calls.unit[bi, ci]), 1.0)
        return out


def shaped_reward(sim: BatchedSim, **weights: float) -> np.ndarray:
    """``(B, N)`` shaped reward of ``sim``'s current state (one-off; see :class:`ShapedReward`).

    Keyword arguments are the weights ``response``, ``waiting``, ``theft`` and
    ``closure`` (defaults in :data:`DEFAULT_WEIGHTS`). Build a :class:`ShapedReward`
    once instead when scoring every step.
    """
    return ShapedReward(sim, **weights)()
