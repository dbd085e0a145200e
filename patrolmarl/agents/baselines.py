"""The baseline policies: random, fixed_zone (pre-reform), nearest ("1+1"), pmedian, coverage,
pmedian_theft (theft-aware posts) and redeploy (dynamic redeployment)."""

from __future__ import annotations

import numpy as np

from patrolmarl.agents.fixed_zones import fixed_zone_beats
from patrolmarl.agents.movement import AreaPatrol, moves_toward
from patrolmarl.agents.pmedian import HourlyPMedian, hourly_pmedian
from patrolmarl.agents.redeploy import RedeployPolicy
from patrolmarl.agents.theft_posts import PMedianTheftPolicy
from patrolmarl.envs.dispatch_rule import NEAREST, DispatchRule, zone_rule
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import IDLE

DWELL_MINUTES = 15.0


def patrol_weights(view: SimView) -> np.ndarray:
    """``(C,)`` where to patrol: daily street-call intensity plus a tenth of its mean."""
    daily = view.incidents.street_rate_per_minute().sum(axis=0)
    return daily + 0.1 * daily.mean()


class RandomPolicy:
    """Uniformly random allowed action for every unit."""

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def bind(self, view: SimView) -> None:
        """Nothing to set up."""

    def reset(self, mask: np.ndarray) -> None:
        """No memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Pick one allowed action per unit uniformly at random."""
        score = self._rng.random(action_masks.shape)
        score[~action_masks] = -1.0
        return np.argmax(score, axis=2)


class _AreaPatrolPolicy:
    """Shared skeleton: units patrol their area at random; the command centre dispatches."""

    name = "patrol"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self._view: SimView | None = None
        self._patrol: AreaPatrol | None = None

    def _areas(self, view: SimView) -> np.ndarray:
        raise NotImplementedError

    def bind(self, view: SimView) -> None:
        """Compute the areas and set up the patrol."""
        self._view = view
        self.areas = self._areas(view)
        self._patrol = AreaPatrol(self.areas * patrol_weights(view), DWELL_MINUTES, self._rng)

    def reset(self, mask: np.ndarray) -> None:
        """Forget patrol targets of the finished districts."""
        self._patrol.reset(mask.shape[0], mask)

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Patrol moves."""
        return self._patrol.actions(self._view)


class FixedZonePolicy(_AreaPatrolPolicy):
    """Pre-reform: each unit patrols its own beat and takes only its beat's calls.

    Beats split each precinct among its units (:func:`fixed_zone_beats`); a call
    whose beat has no free unit waits for the command centre's fallback.
    """

    name = "fixed_zone"

    def _areas(self, view: SimView) -> np.ndarray:
        return fixed_zone_beats(view.district, patrol_weights(view))

    def dispatch_rule(self) -> DispatchRule:
        """Each call goes to the nearest free unit of its beat."""
        return zone_rule(self.areas)


class NearestPolicy(_AreaPatrolPolicy):
    """The "1+1" rule: the nearest free unit takes each new call; units patrol bound precincts."""

    name = "nearest"

    def _areas(self, view: SimView) -> np.ndarray:
        d = view.district
        return d.unit_home_precincts[:, d.precinct_of_cell]

    def dispatch_rule(self) -> DispatchRule:
        """Each call goes to the nearest free unit."""
        return NEAREST


class PMedianPolicy:
    """Units wait at the hour's p-median sites of street-call intensity; nearest dispatch."""

    name = "pmedian"

    def __init__(self, seed: int | None = None) -> None:
        self._view: SimView | None = None
        self.plan: HourlyPMedian | None = None

    def bind(self, view: SimView) -> None:
        """Solve the hourly p-medians (cached per district)."""
        self._view = view
        self.plan = hourly_pmedian(view.district, view.incidents)

    def reset(self, mask: np.ndarray) -> None:
        """No per-episode memory."""

    def dispatch_rule(self) -> DispatchRule:
        """Each call goes to the nearest free unit."""
        return NEAREST

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Head for this hour's site."""
        view = self._view
        return moves_toward(view, self.plan.sites[view.hour_of_day])


class CoveragePolicy:
    """Greedy repositioning: each idle unit steps to the neighbour cell that most lowers
    the next street call's expected response (if one does); nearest dispatch.

    It follows the response part of :class:`MoveGains`, the same numbers learned
    policies can observe, so it is the rule a learned policy must beat to show it
    learned more than their sign.
    """

    name = "coverage"

    def __init__(self, seed: int | None = None) -> None:
        self._view: SimView | None = None
        self._gains: MoveGains | None = None

    def bind(self, view: SimView) -> None:
        """Precompute the call shares and travel tables."""
        self._view = view
        self._gains = MoveGains(view)

    def reset(self, mask: np.ndarray) -> None:
        """No per-episode memory."""

    def dispatch_rule(self) -> DispatchRule:
        """Each call goes to the nearest free unit."""
        return NEAREST

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Best improving move for idle units."""
        view = self._view
        idle = view.unit_status == IDLE
        gain = self._gains.response(units=idle)
        improves = (gain.max(axis=2) > 0) & idle
        return np.where(improves, gain.argmax(axis=2) + 1, 0)


BASELINES = {
    "random": RandomPolicy,
    "fixed_zone": FixedZonePolicy,
    "nearest": NearestPolicy,
    "pmedian": PMedianPolicy,
    "coverage": CoveragePolicy,
    "pmedian_theft": PMedianTheftPolicy,
    "redeploy": RedeployPolicy,
}
