"""The batched simulator: B independent days of one district, stepped as arrays.

Semantics of one step ``[t0, t1)`` with ``t1 = t0 + step_minutes`` (the plain
reference in :mod:`patrolmarl.envs.reference` implements the same rules event
by event, and the tests hold the two to identical results):

1. **Decisions at t0.** Each unit's action is one integer: 0 stay (or continue
   what it is doing), 1-4 move north/south/east/west, ``5 + k`` accept the k-th
   nearest pending street call (nearest by the unit's own travel time; ties by
   call order; only under the ``AGENTS`` dispatch rule). An action the mask
   forbids is taken as 0.

   - Accepts are resolved first. Among units accepting the same call, the one
     with the shortest travel time wins (ties: lowest unit index); it becomes
     EN_ROUTE, arriving at ``t0 + travel``. Losers are treated as action 0.
   - An IDLE unit's move makes it MOVING to the neighbour cell, arriving at
     ``t0 + move time``. A MOVING unit that accepts a call leaves from the cell
     it was moving from.
2. **Events in (t0, t1], in time order** (ties: unit events first, by unit
   index; then a call's arrival; then a call turning overdue):

   - *Unit events* (``free_at <= t1``): MOVING -> IDLE at the target cell;
     EN_ROUTE -> ON_SCENE at the call's cell (the call is served: arrival time
     recorded, ``free_at += service``); ON_SCENE -> IDLE, the unit's *release*
     (a call not closed on scene becomes a follow-up job for its precinct's
     responder pool, released at that time). A released unit at once takes the
     oldest call waiting for a unit it is eligible for (below), leaving at the
     release time.
   - *A call's arrival* (time in ``[t0, t1)``). A deterrable candidate is kept
     only if its ``theft_u`` is below the deterrence factor of its cell's nearby
     presence (the field as it stood at t0). A kept call of a precinct-handled
     type becomes a pool job released at its time (HANDED_OVER); of a
     patrol-handled type it becomes PENDING and, under a command-centre
     dispatch rule (:mod:`~patrolmarl.envs.dispatch_rule`), goes at once to the
     nearest available (IDLE or MOVING) eligible unit: any unit under
     ``NEAREST``, one whose zone holds the call's cell (in the hour of t0) under
     a zone rule. Ties: lowest unit index. With none available it waits.
   - *A call turning overdue* (``time + fallback_minutes <= t1``, oldest first):
     a call still PENDING becomes eligible for every unit and goes at once to
     the nearest available one, else waits. Under ``AGENTS`` this is the
     command centre's fallback; a dispatch at or after a call's overdue time is
     counted as one (``by_fallback``).
3. **Precinct pools**: this step's jobs in order of (release time, call index);
   each takes the pool server free earliest (ties: lowest server), starting at
   ``max(release, free)`` and busy for ``travel + service`` (follow-ups: the
   district's ``follow_up_minutes``).
4. **Presence and visibility at t1**: the presence field decays by
   ``0.5 ** (step / half_life)`` and each IDLE, MOVING or ON_SCENE unit adds
   ``step_minutes`` to its cell (``occupied_steps`` counts the unit-steps); each
   cell within ``visible_radius_cells`` (Chebyshev) of such a unit counts one
   covered step (``covered_steps``, from which visibility is computed).

No call is lost: created = served + waiting (pending or en route) + handed over,
where created counts every kept call (deterred theft candidates never happen).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from patrolmarl.envs.clock import hour_of_day
from patrolmarl.envs.conflicts import accept_winners
from patrolmarl.envs.coverage import deterrence_factor
from patrolmarl.envs.dispatch_rule import AGENTS, ANY_UNIT, HOURS, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import DayCalls, IncidentModel
from patrolmarl.envs.metrics import EpisodeRecord
from patrolmarl.envs.status import (
    ASSIGNED,
    DETERRED,
    EN_ROUTE,
    FIRST_ACCEPT,
    HANDED_OVER,
    IDLE,
    MOVING,
    N_MOVES,
    ON_SCENE,
    PENDING,
    SERVED,
    action_count,
    is_available,
)

_Jobs = tuple[np.ndarray, np.ndarray, np.ndarray]  # precinct jobs: (district, call, release)


@dataclass
class CallLog:
    """Per-call records of B days, padded to the longest day (``(B, D)`` arrays).

    Times are minutes from the episode start; NaN where an event has not happened.
    ``theft_chance`` is a theft candidate's deterrence factor as it arrived: the
    chance it became a theft (NaN for other calls and candidates yet to come).
    ``pool_start`` is when the precinct's responders took a handed-over call or a
    follow-up. ``stage`` says which units the command centre may send to a pending
    call (:data:`~patrolmarl.envs.dispatch_rule.NO_UNIT`, ``ZONE_UNITS`` or ``ANY_UNIT``).
    """

    n_calls: np.ndarray
    time: np.ndarray
    type: np.ndarray
    cell: np.ndarray
    service: np.ndarray
    closure_u: np.ndarray
    theft_u: np.ndarray
    status: np.ndarray
    unit: np.ndarray
    dispatch_time: np.ndarray
    arrival_time: np.ndarray
    by_fallback: np.ndarray
    closed: np.ndarray
    follow_up: np.ndarray
    pool_start: np.ndarray
    theft_chance: np.ndarray
    stage: np.ndarray

    @classmethod
    def empty(cls, batch: int, capacity: int) -> CallLog:
        """An all-padding log of ``batch`` days with room for ``capacity`` calls each."""
        nan = np.full((batch, capacity), np.nan)
        return cls(
            n_calls=np.zeros(batch, dtype=np.int64),
            time=np.full((batch, capacity), np.inf),
            type=np.zeros((batch, capacity), dtype=np.int64),
            cell=np.zeros((batch, capacity), dtype=np.int64),
            service=np.zeros((batch, capacity)),
            closure_u=np.zeros((batch, capacity)),
            theft_u=np.zeros((batch, capacity)),
            status=np.zeros((batch, capacity), dtype=np.int8),
            unit=np.full((batch, capacity), -1, dtype=np.int64),
            dispatch_time=nan.copy(),
            arrival_time=nan.copy(),
            by_fallback=np.zeros((batch, capacity), dtype=bool),
            closed=np.zeros((batch, capacity), dtype=bool),
            follow_up=np.zeros((batch, capacity), dtype=bool),
            pool_start=nan.copy(),
            theft_chance=nan.copy(),
            stage=np.zeros((batch, capacity), dtype=np.int8),
        )

    def grow(self, capacity: int) -> None:
        """Widen every per-call array to ``capacity`` columns, padding as :meth:`empty`."""
        extra = CallLog.empty(self.n_calls.shape[0], capacity - self.time.shape[1])
        for name, value in vars(self).items():
            if name != "n_calls":
                setattr(self, name, np.concatenate([value, getattr(extra, name)], axis=1))

    def load_day(self, b: int, day: DayCalls) -> None:
        """Replace row ``b`` with a fresh day (all calls FUTURE)."""
        blank = CallLog.empty(1, self.time.shape[1])
        for name, value in vars(blank).items():
            if name != "n_calls":
                getattr(self, name)[b] = value[0]
        n = len(day)
        self.n_calls[b] = n
        for name in ("time", "type", "cell", "service", "closure_u", "theft_u"):
            getattr(self, name)[b, :n] = getattr(day, name)


class BatchedSim:
    """B independent episodes of one district, advanced together.

    Parameters
    ----------
    district
        The district to simulate.
    batch_size
        Number of districts ``B`` stepped together.
    seed
        Seeds the generator that draws episode seeds when :meth:`reset` is not
        given them (auto-reset of finished districts).

    Attributes
    ----------
    unit_cell, unit_status, unit_free_at, unit_target, unit_call
        ``(B, N)`` unit state.
    unit_busy_minutes, unit_calls_served
        ``(B, N)`` workload counters of the episode.
    pending
        ``(B, Q)`` day-call index of each pending street call, -1 for an empty slot.
    presence
        ``(B, C)`` decayed patrol-minutes per cell.
    unit_nearby_presence
        ``(B, N, C)`` each unit's own part of the nearby presence field (a cell's
        presence plus ``neighbour_weight`` times its neighbours', as theft
        thinning reads it) made of the unit's decayed patrol-minutes, or None:
        kept only after :meth:`track_unit_presence`.
    occupied_steps, covered_steps
        ``(B, C)`` unit-steps spent in each cell (by visible units), and steps in
        which each cell was within sight of a unit.
    calls
        The :class:`CallLog` of the current episodes.
    dispatch
        The :class:`~patrolmarl.envs.dispatch_rule.DispatchRule` in force
        (:meth:`set_dispatch`; ``AGENTS`` by default).
    nearest_call, nearest_travel
        ``(B, N, K)`` each unit's K nearest pending calls (day-call index, -1 if
        none) and its travel minutes to them, as of the last reset or step.

    The ``(B, N)`` unit arrays and the ``(B, C)`` fields are C-contiguous and
    updated in place (the step writes through flat views of them): change their
    contents, do not replace them.
    """

    def __init__(self, district: District, batch_size: int = 1, seed: int | None = None) -> None:
        self.district = district
        self.incidents = IncidentModel(district)
        cfg = district.config
        sim = cfg.simulation
        self.batch_size = batch_size
        self.n_units = district.n_units
        self.step_minutes = float(sim.step_minutes)
        self.n_steps = int(np.ceil(sim.episode_minutes / sim.step_minutes - 1e-9))
        self.fallback_minutes = float(sim.fallback_minutes)
        self.follow_up_minutes = float(sim.follow_up_minutes)
        self.k_calls = int(sim.observed_calls)
        self.n_actions = action_count(district)
        self._deterrence = cfg.deterrence
        self._decay = 0.5 ** (self.step_minutes / cfg.deterrence.half_life_minutes)
        self._seed_rng = np.random.default_rng(seed)
        self.dispatch = AGENTS

        self._unit_travel = district.unit_travel_minutes  # (N, C, C)
        self._unit_moves = district.move_minutes[district.unit_vehicle]  # (N, C, 4)
        self._patrol_type = self.incidents.patrol_type
        self._deterrable = self.incidents.deterrable
        self._closure_prob = self.incidents.closure_prob
        precincts = [cfg.precincts[c] for c in district.precinct_codes]
        self._pool_size = np.array([p.responders for p in precincts], dtype=np.int64)
        self._pool_travel = np.array([p.responder_travel_minutes for p in precincts])
        disc = _chebyshev_disc(district, sim.visible_radius_cells)  # (C, M)
        # Off-grid entries repeat the cell itself: a cell is counted once however often seen.
        self._visible_cells = np.where(disc >= 0, disc, np.arange(district.n_cells)[:, None])
        self._nb_weight = cfg.deterrence.neighbour_weight
        self._neighbour = district.neighbour
        self._mask_table = _mask_table(district.neighbour >= 0, self.k_calls)

        b, n, c = batch_size, self.n_units, district.n_cells
        self.step_count = np.zeros(b, dtype=np.int64)
        self.unit_cell = np.zeros((b, n), dtype=np.int64)
        self.unit_status = np.zeros((b, n), dtype=np.int8)
        self.unit_free_at = np.zeros((b, n))
        self.unit_target = np.zeros((b, n), dtype=np.int64)
        self.unit_call = np.full((b, n), -1, dtype=np.int64)
        self.unit_busy_minutes = np.zeros((b, n))
        self.unit_calls_served = np.zeros((b, n), dtype=np.int64)
        self.pending = np.full((b, 16), -1, dtype=np.int64)
        self.presence = np.zeros((b, c))
        self.unit_nearby_presence: np.ndarray | None = None
        self.covered_steps = np.zeros((b, c), dtype=np.int64)
        self.occupied_steps = np.zeros((b, c), dtype=np.int64)
        self.fallback_dispatches = np.zeros(b, dtype=np.int64)
        self.pool_free = np.zeros((b, district.n_precincts, int(self._pool_size.max())))
        self.next_call = np.zeros(b, dtype=np.int64)
        self.next_overdue = np.zeros(b, dtype=np.int64)  # oldest call that may still turn overdue
        self.waiting_calls = np.zeros(b, dtype=np.int64)  # pending calls the command centre holds
        self.episode_seed: list[int | Sequence[int] | None] = [None] * b
        self.calls = CallLog.empty(b, 64)
        self.nearest_call = np.full((b, n, self.k_calls), -1, dtype=np.int64)
        self.nearest_travel = np.full((b, n, self.k_calls), np.inf)
        self._nearest_count = np.zeros((b, n), dtype=np.int64)  # valid entries (they come first)
        self._nearest_rows = np.arange(b)  # districts whose nearest calls may be set
        # Offset of each unit's district in flattened (B * C) cell arrays, by flat unit index.
        self._cell_base = np.repeat(np.arange(b) * c, n)
        self._seen = np.zeros(b * c, dtype=np.int64)  # scratch of _update_presence, kept zero

    # ------------------------------------------------------------------ clock
    @property
    def now(self) -> np.ndarray:
        """``(B,)`` minutes since each episode started."""
        return self.step_count * self.step_minutes

    @property
    def hour_of_day(self) -> np.ndarray:
        """``(B,)`` integer hour of day of the current step."""
        return hour_of_day(self.district.config.simulation, self.now)

    @property
    def done(self) -> np.ndarray:
        """``(B,)`` True where the episode has reached its horizon."""
        return self.step_count >= self.n_steps

    def set_dispatch(self, rule: DispatchRule) -> None:
        """Dispatch street calls by ``rule`` from now on (:mod:`~patrolmarl.envs.dispatch_rule`)."""
        expected = (HOURS, self.n_units, self.district.n_cells)
        if rule.zone is not None and rule.zone.shape != expected:
            raise ValueError(f"zone rule of shape {rule.zone.shape}, the district needs {expected}")
        self.dispatch = rule

    def track_unit_presence(self) -> None:
        """Keep each unit's part of the nearby presence in :attr:`unit_nearby_presence`
        from now on.

        Presence, and so nearby presence, is linear in the units' patrol-minutes:
        summed over the units the parts are the nearby presence of ``presence``, as
        long as all of it was made while tracking. Call this before any presence
        builds up (before the first step or right after a reset); presence given to
        :meth:`load_state` belongs to no unit.
        """
        if self.unit_nearby_presence is not None:
            return
        if self.presence.any():
            raise RuntimeError("track_unit_presence() after presence built up: reset first")
        shape = (self.batch_size, self.n_units, self.district.n_cells)
        self.unit_nearby_presence = np.zeros(shape)
        self._reach_cells, self._reach_weight = _presence_reach(self._neighbour, self._nb_weight)

    # ------------------------------------------------------------------ reset
    def reset(
        self,
        seeds: Sequence[int | Sequence[int]] | None = None,
        mask: np.ndarray | None = None,
    ) -> None:
        """Start new episodes in the districts selected by ``mask`` (all by default).

        Parameters
        ----------
        seeds
            One seed per selected district (an int or a sequence of ints, as
            accepted by ``numpy.random.default_rng``). Drawn from the
            simulator's own generator when omitted.
        mask
            ``(B,)`` bool; districts left False keep running untouched.
        """
        idx = np.arange(self.batch_size) if mask is None else np.flatnonzero(mask)
        if seeds is None:
            seeds = [int(s) for s in self._seed_rng.integers(0, 2**63 - 1, size=idx.size)]
        if len(seeds) != idx.size:
            raise ValueError(f"reset got {len(seeds)} seeds for {idx.size} districts")
        days = [self.incidents.generate_day(s) for s in seeds]
        longest = max((len(d) for d in days), default=0)
        if longest > self.calls.time.shape[1]:
            self.calls.grow(max(longest, 2 * self.calls.time.shape[1]))
        for b, seed, day in zip(idx, seeds, days, strict=True):
            self.calls.load_day(int(b), day)
            self.episode_seed[int(b)] = seed
        d = self.district
        self.step_count[idx] = 0
        self.unit_cell[idx] = d.unit_start_cell
        self.unit_status[idx] = IDLE
        self.unit_free_at[idx] = 0.0
        self.unit_target[idx] = d.unit_start_cell
        self.unit_call[idx] = -1
        self.unit_busy_minutes[idx] = 0.0
        self.unit_calls_served[idx] = 0
        self.pending[idx] = -1
        self.presence[idx] = 0.0
        if self.unit_nearby_presence is not None:
            self.unit_nearby_presence[idx] = 0.0
        self.covered_steps[idx] = 0
        self.occupied_steps[idx] = 0
        self.fallback_dispatches[idx] = 0
        self.pool_free[idx] = np.where(
            np.arange(self.pool_free.shape[2])[None, :] < self._pool_size[:, None], 0.0, np.inf
        )
        self.next_call[idx] = 0
        self.next_overdue[idx] = 0
        self.waiting_calls[idx] = 0
        self._update_nearest_calls()

    def load_state(
        self,
        b: int,
        step: int,
        unit_cell: np.ndarray,
        unit_status: np.ndarray,
        unit_free_at: np.ndarray,
        call_time: np.ndarray,
        call_type: np.ndarray,
        call_cell: np.ndarray,
        presence: np.ndarray | None = None,
    ) -> None:
        """Put district ``b`` in a given situation, e.g. a real one to be advised on.

        The district is reset (its drawn day discarded), then its clock is set
        to ``step``, its units to ``unit_cell`` / ``unit_status`` (``(N,)``;
        ``unit_free_at``: minutes from the episode start at which a busy or
        moving unit's task ends), its pending street calls to ``call_time`` /
        ``call_type`` / ``call_cell`` (``(M,)``; they become day-calls
        ``0..M-1`` in this order, which breaks ties in nearness as call order
        does, so give them in time order) and its presence field to
        ``presence`` (``(C,)``, zero by default).

        Units' targets and assigned calls, the precinct pools and the rest of
        the day are not part of the situation: the loaded district gives
        observations and :meth:`action_masks`; stepping it is not supported.
        """
        self.reset(seeds=[0], mask=np.arange(self.batch_size) == b)
        self.episode_seed[b] = None
        m = len(call_time)
        if m > self.calls.time.shape[1]:
            self.calls.grow(m)
        zeros = np.zeros(m)
        pending = DayCalls(
            time=np.asarray(call_time, dtype=float),
            type=np.asarray(call_type, dtype=np.int64),
            cell=np.asarray(call_cell, dtype=np.int64),
            service=zeros,
            closure_u=zeros,
            theft_u=zeros,
        )
        self.calls.load_day(b, pending)
        self.calls.status[b, :m] = PENDING
        self.next_call[b] = self.next_overdue[b] = m
        if m > self.pending.shape[1]:
            extra = np.full((self.batch_size, m - self.pending.shape[1]), -1, dtype=np.int64)
            self.pending = np.concatenate([self.pending, extra], axis=1)
        self.pending[b, :m] = np.arange(m)
        self.step_count[b] = step
        self.unit_cell[b] = unit_cell
        self.unit_target[b] = unit_cell
        self.unit_status[b] = unit_status
        self.unit_free_at[b] = unit_free_at
        if presence is not None:
            self.presence[b] = presence
        self._update_nearest_calls()

    def record(self, b: int) -> EpisodeRecord:
        """A copy of district ``b``'s episode so far, for :func:`episode_metrics`."""
        log, n = self.calls, int(self.calls.n_calls[b])
        per_call = {
            name: getattr(log, name)[b, :n].copy()
            for name in (
                "time",
                "type",
                "cell",
                "status",
                "unit",
                "dispatch_time",
                "arrival_time",
                "by_fallback",
                "closed",
                "follow_up",
                "pool_start",
                "theft_chance",
            )
        }
        return EpisodeRecord(
            **per_call,
            unit_busy_minutes=self.unit_busy_minutes[b].copy(),
            unit_calls_served=self.unit_calls_served[b].copy(),
            covered_steps=self.covered_steps[b].copy(),
            occupied_steps=self.occupied_steps[b].copy(),
            steps=int(self.step_count[b]),
            step_minutes=self.step_minutes,
        )

    # ------------------------------------------------------------------ step
    def step(self, actions: np.ndarray) -> None:
        """Advance every district by one step; ``actions`` is ``(B, N)`` integers.

        Districts already at their horizon must be reset before stepping.
        """
        actions = np.asarray(actions, dtype=np.int64).reshape(self.batch_size, self.n_units)
        if self.done.any():
            raise RuntimeError("step() on a finished episode: reset the finished districts first")
        t0 = self.now.astype(float)
        t1 = t0 + self.step_minutes
        actions = np.where(self._mask_allows(actions), actions, 0)
        self._apply_accepts(actions, t0)
        self._apply_moves(actions, t0)
        jobs = self._run_events(t1)
        self._run_pools(jobs)
        self._update_presence()
        self.step_count += 1
        self._update_nearest_calls()

    def action_masks(self) -> np.ndarray:
        """``(B, N, A)`` bool: which actions each unit may take now."""
        return self._mask_table.take(self._mask_rows(), axis=0)

    def _mask_rows(self) -> np.ndarray:
        """``(B, N)`` each unit's row of the mask table (see :func:`_mask_table`)."""
        status_class = _STATUS_CLASS.take(self.unit_status)
        row = (self.unit_cell * _N_CLASSES + status_class) * (self.k_calls + 1)
        return row + self._nearest_count if self.dispatch.by_agents else row

    def _mask_allows(self, actions: np.ndarray) -> np.ndarray:
        """``(B, N)`` True where ``actions`` is in range and allowed by the mask."""
        flat = self._mask_rows() * self.n_actions + np.clip(actions, 0, self.n_actions - 1)
        return self._mask_table.take(flat) & (actions >= 0) & (actions < self.n_actions)

    def _apply_accepts(self, actions: np.ndarray, t0: np.ndarray) -> None:
        bi, ni = np.nonzero(actions >= FIRST_ACCEPT)
        if bi.size == 0:
            return
        k = actions[bi, ni] - FIRST_ACCEPT
        call = self.nearest_call[bi, ni, k]
        travel = self.nearest_travel[bi, ni, k]
        won = accept_winners(bi, ni, call, travel)
        bi, ni, call, travel = bi[won], ni[won], call[won], travel[won]
        self._dispatch(bi, ni, call, t0[bi], travel)

    def _dispatch(
        self, bi: np.ndarray, ni: np.ndarray, call: np.ndarray, at: np.ndarray, travel: np.ndarray
    ) -> None:
        """Send units ``(bi, ni)`` to day-calls ``call`` leaving at ``at``."""
        log = self.calls
        self.unit_status[bi, ni] = EN_ROUTE
        self.unit_free_at[bi, ni] = at + travel
        self.unit_target[bi, ni] = log.cell[bi, call]
        self.unit_call[bi, ni] = call
        self.unit_busy_minutes[bi, ni] += travel
        log.status[bi, call] = ASSIGNED
        log.unit[bi, call] = ni
        log.dispatch_time[bi, call] = at
        np.subtract.at(self.waiting_calls, bi, log.stage[bi, call] > 0)
        self.pending[bi, np.argmax(self.pending[bi] == call[:, None], axis=1)] = -1

    def _apply_moves(self, actions: np.ndarray, t0: np.ndarray) -> None:
        units = np.flatnonzero((actions >= 1) & (actions < FIRST_ACCEPT))  # flat (B * N)
        if units.size == 0:
            return
        bi, ni = np.divmod(units, self.n_units)
        # Flat indices into the (C, 4) neighbours and the (N, C, 4) move times.
        move = self.unit_cell.reshape(-1)[units] * N_MOVES + actions.reshape(-1)[units] - 1
        self.unit_status.reshape(-1)[units] = MOVING
        self.unit_target.reshape(-1)[units] = self._neighbour.take(move)
        minutes = self._unit_moves.take(ni * self._neighbour.size + move)
        self.unit_free_at.reshape(-1)[units] = t0[bi] + minutes

    # ------------------------------------------------------------------ events
    def _run_events(self, t1: np.ndarray) -> list[_Jobs]:
        """Process the step's events in time order; returns the precinct jobs.

        Unit events (moves ending, arrivals on scene, releases) that cannot
        change a dispatch are processed in bulk up to each district's next
        *dispatch event*: a call's arrival, a call turning overdue, or (where a
        call waits for the command centre) a unit's release. Those are taken one
        per district per round, in the order of the reference: by time, unit
        events before arrivals before overdue calls, then by unit or call index.
        """
        jobs: list[_Jobs] = []
        hour = self.hour_of_day if self.dispatch.zone is not None else None
        rows = np.arange(self.batch_size)  # districts that may still have events this step
        while True:
            self._skip_settled_overdue(rows)
            t1_rows = t1[rows]
            arrival_t = self._next_arrival_time(rows, t1_rows)
            overdue_t = self._next_overdue_time(rows, t1_rows)
            release_t, release_unit = self._next_release(rows, t1_rows)
            event_t = np.minimum(release_t, np.minimum(arrival_t, overdue_t))
            has_event = event_t < np.inf
            is_release = has_event & (release_t == event_t)
            is_arrival = has_event & ~is_release & (arrival_t == event_t)
            is_overdue = has_event & ~is_release & ~is_arrival
            # Unit events at a call event's time come before it; at a release's, after it.
            cut = np.where(is_release, np.nextafter(event_t, -np.inf), event_t)
            jobs += self._advance_units(rows, np.where(has_event, cut, t1_rows))
            if not has_event.any():
                return jobs
            if is_release.any():
                jobs += self._release(
                    rows[is_release], release_unit[is_release], event_t[is_release], hour
                )
            if is_arrival.any():
                jobs.append(self._admit(rows[is_arrival], hour))
            if is_overdue.any():
                self._open_to_all(rows[is_overdue], event_t[is_overdue], hour)
            rows = rows[has_event]

    def _skip_settled_overdue(self, rows: np.ndarray) -> None:
        """Move the overdue pointers of ``rows`` past calls no longer waiting for a fallback."""
        log = self.calls
        while True:
            ptr = self.next_overdue[rows]
            col = np.minimum(ptr, log.time.shape[1] - 1)
            waiting = (log.status[rows, col] == PENDING) & (log.stage[rows, col] < ANY_UNIT)
            settled = rows[(ptr < self.next_call[rows]) & ~waiting]
            if settled.size == 0:
                return
            self.next_overdue[settled] += 1

    def _next_arrival_time(self, rows: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Time of the next call of each district in ``rows`` if made before t1, else inf."""
        log = self.calls
        nxt = self.next_call[rows]
        time = log.time[rows, np.minimum(nxt, log.time.shape[1] - 1)]
        return np.where((nxt < log.n_calls[rows]) & (time < t1), time, np.inf)

    def _next_overdue_time(self, rows: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """When the oldest call waiting for its fallback turns overdue (if by t1), by row."""
        log = self.calls
        ptr = self.next_overdue[rows]
        due = log.time[rows, np.minimum(ptr, log.time.shape[1] - 1)] + self.fallback_minutes
        return np.where((ptr < self.next_call[rows]) & (due <= t1), due, np.inf)

    def _next_release(self, rows: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first release by t1 (and its unit) of each of ``rows`` where a call waits."""
        release_t = np.full(rows.size, np.inf)
        unit = np.zeros(rows.size, dtype=np.int64)
        log = self.calls
        where = np.flatnonzero(self.waiting_calls[rows])
        if where.size == 0:
            return release_t, unit
        waiting = rows[where]
        status, free_at = self.unit_status[waiting], self.unit_free_at[waiting]
        call = np.maximum(self.unit_call[waiting], 0)
        ends = np.where(
            status == ON_SCENE,
            free_at,
            np.where(status == EN_ROUTE, free_at + log.service[waiting[:, None], call], np.inf),
        )
        first = np.argmin(ends, axis=1)
        end = ends[np.arange(where.size), first]
        release_t[where] = np.where(end <= t1[where], end, np.inf)
        unit[where] = first
        return release_t, unit

    def _advance_units(self, rows: np.ndarray, cut: np.ndarray) -> list[_Jobs]:
        """Process the unit events of ``rows`` due by each one's ``cut``; returns follow-ups."""
        n = self.n_units
        # All districts: test every unit in place; a few: gather their units first.
        units = None if rows.size == self.batch_size else (rows[:, None] * n + np.arange(n)).ravel()
        cut_unit = np.repeat(cut, n)
        status, free_at = self.unit_status.reshape(-1), self.unit_free_at.reshape(-1)
        jobs = []
        while True:
            if units is None:
                due = np.flatnonzero((status != IDLE) & (free_at <= cut_unit))
            else:
                due = units[(status[units] != IDLE) & (free_at[units] <= cut_unit)]
            if due.size == 0:
                return jobs
            jobs += self._unit_events(due)

    def _unit_events(self, units: np.ndarray) -> list[_Jobs]:
        """The next event of each flat unit in ``units`` (all busy or moving)."""
        log = self.calls
        n = self.n_units
        # Flat (B * N) views of the unit state.
        status, cell, free_at = (
            a.reshape(-1) for a in (self.unit_status, self.unit_cell, self.unit_free_at)
        )
        target, unit_call = self.unit_target.reshape(-1), self.unit_call.reshape(-1)
        was = status[units]
        moved = units[was == MOVING]
        cell[moved] = target[moved]
        status[moved] = IDLE

        arrived = units[was == EN_ROUTE]
        if arrived.size:
            bi, call = arrived // n, unit_call[arrived]
            arrival = free_at[arrived]
            cell[arrived] = target[arrived]
            status[arrived] = ON_SCENE
            service = log.service[bi, call]
            free_at[arrived] = arrival + service
            self.unit_busy_minutes.reshape(-1)[arrived] += service
            self.unit_calls_served.reshape(-1)[arrived] += 1
            log.status[bi, call] = SERVED
            log.arrival_time[bi, call] = arrival
            log.closed[bi, call] = log.closure_u[bi, call] < self._closure_prob[log.type[bi, call]]

        done = units[was == ON_SCENE]
        if done.size == 0:
            return []
        bi, call = done // n, unit_call[done]
        status[done] = IDLE
        unit_call[done] = -1
        open_ = ~log.closed[bi, call]
        log.follow_up[bi[open_], call[open_]] = True
        return [(bi[open_], call[open_], free_at[done[open_]])]

    def _release(
        self, rows: np.ndarray, unit: np.ndarray, at: np.ndarray, hour: np.ndarray | None
    ) -> list[_Jobs]:
        """Units ``unit`` of districts ``rows`` end their service at ``at`` and take the
        oldest call waiting for them."""
        flat = rows * self.n_units + unit
        jobs: list[_Jobs] = []
        while (busy := self.unit_status.reshape(-1)[flat] != IDLE).any():
            jobs += self._unit_events(flat[busy])
        log = self.calls
        slots = self.pending[rows]
        call = np.maximum(slots, 0)
        stage = log.stage[rows[:, None], call]
        eligible = (slots >= 0) & (stage > 0)
        if hour is not None:
            zone = self.dispatch.zone
            in_zone = zone[hour[rows][:, None], unit[:, None], log.cell[rows[:, None], call]]
            eligible &= (stage == ANY_UNIT) | in_zone
        oldest = np.where(eligible, slots, np.iinfo(np.int64).max).min(axis=1)
        taken = eligible.any(axis=1)
        rows, unit, call, at = rows[taken], unit[taken], oldest[taken], at[taken]
        travel = self._unit_travel[unit, self.unit_cell[rows, unit], log.cell[rows, call]]
        self._command_dispatch(rows, unit, call, at, travel)
        return jobs

    def _admit(self, rows: np.ndarray, hour: np.ndarray | None) -> _Jobs:
        """Bring in the next call of each district in ``rows``; returns its precinct jobs."""
        log = self.calls
        call = self.next_call[rows].copy()
        self.next_call[rows] += 1
        ctype, cell = log.type[rows, call], log.cell[rows, call]
        kept = np.ones(rows.size, dtype=bool)
        deter = self._deterrable[ctype]
        if deter.any():
            bd, cd = rows[deter], cell[deter]
            factor = deterrence_factor(self._nearby_presence(bd, cd), self._deterrence)
            log.theft_chance[bd, call[deter]] = factor
            kept[deter] = log.theft_u[bd, call[deter]] < factor
            log.status[rows[~kept], call[~kept]] = DETERRED
        street = kept & self._patrol_type[ctype]
        self._add_pending(rows[street], call[street])
        if not self.dispatch.by_agents and street.any():
            log.stage[rows[street], call[street]] = self.dispatch.arrival_stage
            self.waiting_calls[rows[street]] += 1
            rows_s, call_s = rows[street], call[street]
            self._command_centre(rows_s, call_s, log.time[rows_s, call_s], hour)
        pool = kept & ~self._patrol_type[ctype]
        log.status[rows[pool], call[pool]] = HANDED_OVER
        return rows[pool], call[pool], log.time[rows[pool], call[pool]]

    def _open_to_all(self, rows: np.ndarray, at: np.ndarray, hour: np.ndarray | None) -> None:
        """The oldest calls waiting for their fallback turn overdue: any unit may take them."""
        call = self.next_overdue[rows].copy()
        self.next_overdue[rows] += 1
        self.waiting_calls[rows] += self.calls.stage[rows, call] == 0
        self.calls.stage[rows, call] = ANY_UNIT
        self._command_centre(rows, call, at, hour)

    def _command_centre(
        self, rows: np.ndarray, call: np.ndarray, at: np.ndarray, hour: np.ndarray | None
    ) -> None:
        """Send each call to its nearest available eligible unit, if there is one."""
        log = self.calls
        units = np.arange(self.n_units)[None, :]
        cell = log.cell[rows, call]
        eligible = is_available(self.unit_status[rows])
        if hour is not None:
            in_zone = self.dispatch.zone[hour[rows][:, None], units, cell[:, None]]
            eligible &= (log.stage[rows, call] == ANY_UNIT)[:, None] | in_zone
        travel = self._unit_travel[units, self.unit_cell[rows], cell[:, None]]
        travel = np.where(eligible, travel, np.inf)
        unit = np.argmin(travel, axis=1)
        best = travel[np.arange(rows.size), unit]
        ok = best < np.inf
        self._command_dispatch(rows[ok], unit[ok], call[ok], at[ok], best[ok])

    def _command_dispatch(
        self, bi: np.ndarray, ni: np.ndarray, call: np.ndarray, at: np.ndarray, travel: np.ndarray
    ) -> None:
        """A command-centre dispatch: as :meth:`_dispatch`, counted as a fallback once overdue."""
        if bi.size == 0:
            return
        self._dispatch(bi, ni, call, at, travel)
        log = self.calls
        overdue = log.time[bi, call] + self.fallback_minutes <= at
        log.by_fallback[bi, call] = overdue
        np.add.at(self.fallback_dispatches, bi[overdue], 1)

    def _nearby_presence(self, bi: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Presence of cells ``(bi, cell)`` plus the weighted presence of their neighbours."""
        nb = self._neighbour[cell]  # (M, 4)
        around = np.where(nb >= 0, self.presence[bi[:, None], np.maximum(nb, 0)], 0.0)
        return self.presence[bi, cell] + self._nb_weight * around.sum(axis=1)

    def _add_pending(self, bi: np.ndarray, call: np.ndarray) -> None:
        if bi.size == 0:
            return
        self.calls.status[bi, call] = PENDING
        free = self.pending[bi] < 0
        full = ~free.any(axis=1)
        if full.any():
            self.pending = np.concatenate([self.pending, np.full_like(self.pending, -1)], axis=1)
            free = self.pending[bi] < 0
        self.pending[bi, np.argmax(free, axis=1)] = call

    def _run_pools(self, jobs: list[_Jobs]) -> None:
        """Give this step's precinct jobs to their pools' earliest-free responders."""
        if not jobs:
            return
        bi = np.concatenate([j[0] for j in jobs])
        if bi.size == 0:
            return
        call = np.concatenate([j[1] for j in jobs])
        release = np.concatenate([j[2] for j in jobs])
        log = self.calls
        order = np.lexsort((call, release, bi))
        bi, call, release = bi[order], call[order], release[order]
        first = np.ones(bi.size, dtype=bool)
        first[1:] = bi[1:] != bi[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(bi.size), 0))
        rank = np.arange(bi.size) - group_start
        for r in range(int(rank.max()) + 1):
            sel = rank == r
            b, c, rel = bi[sel], call[sel], release[sel]
            p = self.district.precinct_of_cell[log.cell[b, c]]
            free = self.pool_free[b, p]
            server = np.argmin(free, axis=1)
            start = np.maximum(rel, free[np.arange(b.size), server])
            follow = log.follow_up[b, c]
            work = np.where(follow, self.follow_up_minutes, log.service[b, c])
            self.pool_free[b, p, server] = start + self._pool_travel[p] + work
            log.pool_start[b, c] = start

    def _update_presence(self) -> None:
        """Decay presence (and each unit's part of it, if tracked), then add the visible
        units' minutes and the cells they cover.

        Only touched cells are updated: adding zero elsewhere would change nothing.
        """
        units = np.flatnonzero(self.unit_status != EN_ROUTE)  # visible, flat (B * N)
        unit_cell = self.unit_cell.reshape(-1)[units]
        base = self._cell_base[units]
        cells = base + unit_cell  # flat (B * C)
        self.presence *= self._decay
        occupied = self.occupied_steps.reshape(-1)
        before = occupied[cells]
        np.add.at(occupied, cells, 1)
        count = occupied[cells] - before  # units in the cell
        # Units sharing a cell repeat its index; each copy writes the same total.
        presence = self.presence.reshape(-1)
        presence[cells] = presence[cells] + self.step_minutes * count
        if self.unit_nearby_presence is not None:
            self.unit_nearby_presence *= self._decay
            reach = self._reach_cells[unit_cell] + (units * self.district.n_cells)[:, None]
            minutes = self.step_minutes * self._reach_weight[unit_cell]
            np.add.at(self.unit_nearby_presence.reshape(-1), reach.ravel(), minutes.ravel())
        seen = self._visible_cells.take(unit_cell, axis=0)
        seen += base[:, None]
        # A cell seen by several units counts once; a dense add streams through memory.
        self._seen[seen] = 1
        self.covered_steps += self._seen.reshape(self.covered_steps.shape)
        self._seen[seen] = 0

    def _update_nearest_calls(self) -> None:
        """Recompute each unit's K nearest pending calls (only where calls are pending)."""
        cleared = self._nearest_rows  # the only rows holding calls
        self.nearest_call[cleared] = -1
        self.nearest_travel[cleared] = np.inf
        self._nearest_count[cleared] = 0
        busy_rows = self._nearest_rows = np.flatnonzero(self.pending.max(axis=1) >= 0)
        if busy_rows.size == 0:
            return
        # Only the occupied slots, in any order (ties are broken by call index).
        pend = np.sort(self.pending[busy_rows], axis=1)[:, ::-1]
        pend = pend[:, : int((pend >= 0).sum(axis=1).max())]  # (b, Q)
        cells = self.calls.cell[busy_rows[:, None], np.maximum(pend, 0)]  # (b, Q)
        travel = self._unit_travel[
            np.arange(self.n_units)[None, :, None],
            self.unit_cell[busy_rows][:, :, None],
            cells[:, None, :],
        ]  # (b, N, Q)
        travel = np.where(pend[:, None, :] >= 0, travel, np.inf)
        # Ties in travel are broken by call index (= time order).
        calls_b = np.where(pend >= 0, pend, np.iinfo(np.int64).max)
        order = np.lexsort((np.broadcast_to(calls_b[:, None, :], travel.shape), travel), axis=2)
        k = min(self.k_calls, order.shape[2])
        order = order[..., :k]
        chosen_travel = np.take_along_axis(travel, order, axis=2)
        chosen_call = np.take_along_axis(
            np.broadcast_to(pend[:, None, :], travel.shape), order, axis=2
        )
        chosen_call = np.where(np.isfinite(chosen_travel), chosen_call, -1)
        self.nearest_call[busy_rows, :, :k] = chosen_call
        self.nearest_travel[busy_rows, :, :k] = chosen_travel
        self._nearest_count[busy_rows] = np.isfinite(chosen_travel).sum(axis=2)


# Unit status -> class of the mask table: 0 idle, 1 moving, 2 busy (en route or on scene).
_N_CLASSES = 3
_STATUS_CLASS = np.zeros(max(IDLE, MOVING, EN_ROUTE, ON_SCENE) + 1, dtype=np.int64)
_STATUS_CLASS[[IDLE, MOVING, EN_ROUTE, ON_SCENE]] = [0, 1, 2, 2]


def _mask_table(move_ok: np.ndarray, k_calls: int) -> np.ndarray:
    """``(C * 3 * (K + 1), A)`` action mask by cell, status class and number of nearest calls.

    Row ``(cell * 3 + status_class) * (K + 1) + m``: stay is always allowed, moves
    only for an idle unit and where the grid continues, accepting the first ``m``
    nearest calls for an idle or moving unit.
    """
    n_cells = move_ok.shape[0]
    table = np.zeros((n_cells, _N_CLASSES, k_calls + 1, FIRST_ACCEPT + k_calls), dtype=bool)
    table[..., 0] = True
    table[:, 0, :, 1:FIRST_ACCEPT] = move_ok[:, None, :]
    for m in range(k_calls + 1):
        table[:, :2, m, FIRST_ACCEPT : FIRST_ACCEPT + m] = True
    return table.reshape(-1, FIRST_ACCEPT + k_calls)


def _presence_reach(neighbour: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """``(C, M)`` the cells whose nearby presence a cell's presence adds to, and by how much.

    Row ``x``: ``x`` itself with weight 1, then every cell that has ``x`` among its
    neighbours with weight ``weight``; short rows are padded with ``x`` at weight 0.
    """
    c = neighbour.shape[0]
    near, source = np.nonzero(neighbour >= 0)
    source = neighbour[near, source]  # the presence of `source` reaches `near`
    order = np.argsort(source, kind="stable")
    near, source = near[order], source[order]
    count = np.bincount(source, minlength=c)
    slot = 1 + np.arange(source.size) - np.repeat(np.cumsum(count) - count, count)
    cells = np.repeat(np.arange(c)[:, None], 1 + count.max(initial=0), axis=1)
    weights = np.zeros(cells.shape)
    weights[:, 0] = 1.0
    cells[source, slot] = near
    weights[source, slot] = weight
    return cells, weights


def _chebyshev_disc(district: District, radius: int) -> np.ndarray:
    """``(C, (2r+1)^2)`` cells within ``radius`` (Chebyshev) of each cell, -1 off the grid."""
    rc = district.cell_rc
    d = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(d, d, indexing="ij")
    r = rc[:, 0:1] + dr.ravel()[None, :]
    c = rc[:, 1:2] + dc.ravel()[None, :]
    inside = (r >= 0) & (r < district.rows) & (c >= 0) & (c < district.cols)
    return np.where(inside, r * district.cols + c, -1)
