"""The plain reference simulator: one district, event by event, in plain Python.

It implements the step rules written in the docstring of
:mod:`patrolmarl.envs.core` with lists, ints and floats and explicit loops over
units and calls, and shares only the district, the day generator, the
deterrence factor, the status codes and the episode record with the batched
core. It is slow and meant as a test oracle: the tests hold
:class:`~patrolmarl.envs.core.BatchedSim` to identical states and records on the
same seeds, which is what lets the fast core be changed with confidence.

Floating-point operations are written in the order the rules imply, so both
simulators produce bit-identical times:

- dispatch at time ``at`` (t0, a call's arrival, its overdue time ``time +
  fallback_minutes`` or a release): ``free_at = at + travel`` and ``busy += travel``;
- arrival: ``free_at = arrival + service`` and ``busy += service``;
- presence: ``p = p * decay`` then ``p = p + step_minutes * count``;
- nearby presence: ``p[cell] + w * (p[N] + p[S] + p[E] + p[W])`` (off-grid 0.0);
- clock: ``t0 = step_count * step_minutes``, ``t1 = t0 + step_minutes``;
- precinct pools: ``free = start + travel + work``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from patrolmarl.envs.clock import hour_of_day
from patrolmarl.envs.coverage import deterrence_factor
from patrolmarl.envs.dispatch_rule import AGENTS, ANY_UNIT, ZONE_UNITS, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.metrics import EpisodeRecord
from patrolmarl.envs.status import (
    ASSIGNED,
    DETERRED,
    EN_ROUTE,
    FIRST_ACCEPT,
    FUTURE,
    HANDED_OVER,
    IDLE,
    MOVING,
    N_MOVES,
    ON_SCENE,
    PENDING,
    SERVED,
)

_NAN = float("nan")
_UNIT_EVENT, _ARRIVAL, _OVERDUE = 0, 1, 2  # event kinds, in their order at equal times


class ReferenceSim:
    """One district-day stepped event by event (the oracle for the batched core).

    Parameters
    ----------
    district
        The district to simulate.

    Attributes
    ----------
    unit_cell, unit_status, unit_free_at, unit_target, unit_call
        Per-unit state, lists of length ``N`` (same meaning as in ``BatchedSim``).
    unit_busy_minutes, unit_calls_served
        Per-unit workload of the episode.
    pending
        Day-call indices of the pending street calls (a set).
    presence, occupied_steps, covered_steps
        Per-cell lists, as in ``BatchedSim``.
    pool_free
        Per precinct, the time each responder is next free.
    fallback_dispatches
        Calls the command centre assigned once overdue.
    step_count
        Steps taken in the episode.
    """

    def __init__(self, district: District) -> None:
        self.district = district
        self.incidents = IncidentModel(district)
        cfg = district.config
        sim = cfg.simulation
        self.n_units = district.n_units
        self.n_cells = district.n_cells
        self.step_minutes = float(sim.step_minutes)
        self.n_steps = int(math.ceil(sim.episode_minutes / sim.step_minutes - 1e-9))
        self.fallback_minutes = float(sim.fallback_minutes)
        self.follow_up_minutes = float(sim.follow_up_minutes)
        self.k_calls = int(sim.observed_calls)
        self.n_actions = FIRST_ACCEPT + self.k_calls
        self.visible_radius = int(sim.visible_radius_cells)
        self.deterrence = cfg.deterrence
        self.neighbour_weight = float(cfg.deterrence.neighbour_weight)
        self.decay = 0.5 ** (self.step_minutes / cfg.deterrence.half_life_minutes)

        self.neighbour: list[list[int]] = district.neighbour.tolist()
        vehicle = district.unit_vehicle.tolist()
        travel = district.travel_minutes.tolist()  # [V][C][C]
        moves = district.move_minutes.tolist()  # [V][C][4]
        self.unit_travel: list[list[list[float]]] = [travel[v] for v in vehicle]
        self.unit_moves: list[list[list[float]]] = [moves[v] for v in vehicle]
        self.start_cell: list[int] = district.unit_start_cell.tolist()
        self.precinct_of_cell: list[int] = district.precinct_of_cell.tolist()
        self.patrol_type: list[bool] = self.incidents.patrol_type.tolist()
        self.deterrable: list[bool] = self.incidents.deterrable.tolist()
        self.closure_prob: list[float] = self.incidents.closure_prob.tolist()
        precincts = [cfg.precincts[code] for code in district.precinct_codes]
        self.pool_size = [int(p.responders) for p in precincts]
        self.pool_travel = [float(p.responder_travel_minutes) for p in precincts]
        self.rows, self.cols = district.rows, district.cols
        self.dispatch = AGENTS
        self.reset(0)

    def set_dispatch(self, rule: DispatchRule) -> None:
        """Dispatch street calls by ``rule`` from now on."""
        self.dispatch = rule

    # ------------------------------------------------------------------ clock
    @property
    def now(self) -> float:
        """Minutes since the episode started."""
        return self.step_count * self.step_minutes

    @property
    def done(self) -> bool:
        """True once the episode has reached its horizon."""
        return self.step_count >= self.n_steps

    # ------------------------------------------------------------------ reset
    def reset(self, seed: int | Sequence[int]) -> None:
        """Start a new episode on the day drawn from ``seed``."""
        day = self.incidents.generate_day(seed)
        self.seed = seed
        n = len(day)
        self.n_calls = n
        self.call_time: list[float] = day.time.tolist()
        self.call_type: list[int] = day.type.tolist()
        self.call_cell: list[int] = day.cell.tolist()
        self.call_service: list[float] = day.service.tolist()
        self.call_closure_u: list[float] = day.closure_u.tolist()
        self.call_theft_u: list[float] = day.theft_u.tolist()
        self.call_status: list[int] = [FUTURE] * n
        self.call_unit: list[int] = [-1] * n
        self.call_dispatch: list[float] = [_NAN] * n
        self.call_arrival: list[float] = [_NAN] * n
        self.call_by_fallback: list[bool] = [False] * n
        self.call_closed: list[bool] = [False] * n
        self.call_follow_up: list[bool] = [False] * n
        self.call_pool_start: list[float] = [_NAN] * n
        self.call_theft_chance: list[float] = [_NAN] * n
        self.call_stage: list[int] = [0] * n

        self.step_count = 0
        self.next_call = 0
        self.next_overdue = 0
        self.unit_cell: list[int] = list(self.start_cell)
        self.unit_status: list[int] = [IDLE] * self.n_units
        self.unit_free_at: list[float] = [0.0] * self.n_units
        self.unit_target: list[int] = list(self.start_cell)
        self.unit_call: list[int] = [-1] * self.n_units
        self.unit_busy_minutes: list[float] = [0.0] * self.n_units
        self.unit_calls_served: list[int] = [0] * self.n_units
        self.pending: set[int] = set()
        self.presence: list[float] = [0.0] * self.n_cells
        self.occupied_steps: list[int] = [0] * self.n_cells
        self.covered_steps: list[int] = [0] * self.n_cells
        self.pool_free: list[list[float]] = [[0.0] * size for size in self.pool_size]
        self.fallback_dispatches = 0

    # ------------------------------------------------------------------ queries
    def nearest_calls(self, unit: int) -> list[tuple[int, float]]:
        """The unit's K nearest pending calls as ``(call, travel)``, nearest first.

        Nearest by the unit's own travel time from its cell; ties by call index.
        """
        here = self.unit_travel[unit][self.unit_cell[unit]]
        ranked = sorted((here[self.call_cell[c]], c) for c in self.pending)
        return [(c, t) for t, c in ranked[: self.k_calls]]

    def action_mask(self) -> np.ndarray:
        """``(N, A)`` bool: which actions each unit may take now."""
        mask = np.zeros((self.n_units, self.n_actions), dtype=bool)
        for n in range(self.n_units):
            mask[n, 0] = True
            status = self.unit_status[n]
            if status == IDLE:
                for d in range(N_MOVES):
                    if self.neighbour[self.unit_cell[n]][d] >= 0:
                        mask[n, 1 + d] = True
            if status in (IDLE, MOVING) and self.dispatch.by_agents:
                for k in range(len(self.nearest_calls(n))):
                    mask[n, FIRST_ACCEPT + k] = True
        return mask

    def _allowed(self, unit: int, action: int) -> bool:
        if action == 0:
            return True
        status = self.unit_status[unit]
        if 1 <= action < FIRST_ACCEPT:
            return status == IDLE and self.neighbour[self.unit_cell[unit]][action - 1] >= 0
        if FIRST_ACCEPT <= action < self.n_actions:
            if not self.dispatch.by_agents:
                return False
            return status in (IDLE, MOVING) and action - FIRST_ACCEPT < len(
                self.nearest_calls(unit)
            )
        return False

    # ------------------------------------------------------------------ step
    def step(self, actions: Sequence[int]) -> None:
        """Advance the district by one step; ``actions`` has one integer per unit."""
        if len(actions) != self.n_units:
            raise ValueError(f"expected {self.n_units} actions, got {len(actions)}")
        if self.done:
            raise RuntimeError("step() on a finished episode: reset first")
        t0 = self.step_count * self.step_minutes
        t1 = t0 + self.step_minutes
        acts = [int(a) if self._allowed(n, int(a)) else 0 for n, a in enumerate(actions)]

        # 1. Decisions at t0: accepts first (shortest travel wins, then lowest unit).
        offers: dict[int, list[tuple[float, int]]] = {}
        for n, a in enumerate(acts):
            if a >= FIRST_ACCEPT:
                call, travel = self.nearest_calls(n)[a - FIRST_ACCEPT]
                offers.setdefault(call, []).append((travel, n))
        for call in sorted(offers):
            travel, n = min(offers[call])
            self._dispatch(n, call, t0, travel)
        for n, a in enumerate(acts):
            if 1 <= a < FIRST_ACCEPT:
                cell = self.unit_cell[n]
                self.unit_status[n] = MOVING
                self.unit_target[n] = self.neighbour[cell][a - 1]
                self.unit_free_at[n] = t0 + self.unit_moves[n][cell][a - 1]

        # 2. Events in (t0, t1], in time order; unclosed calls become follow-up jobs.
        jobs: list[tuple[float, int]] = []  # (release, call)
        hour = int(hour_of_day(self.district.config.simulation, np.array([t0]))[0])
        while (event := self._next_event(t1)) is not None:
            at, kind, index = event
            if kind == _UNIT_EVENT:
                releasing = self.unit_status[index] == ON_SCENE
                self._unit_event(index, jobs)
                if releasing:
                    self._take_waiting_call(index, at, hour)
            elif kind == _ARRIVAL:
                self._admit(jobs, hour)
            else:
                self.next_overdue += 1
                if self.call_status[index] == PENDING and self.call_stage[index] < ANY_UNIT:
                    self.call_stage[index] = ANY_UNIT
                    self._command_centre(index, at, hour)

        # 3. Precinct pools: earliest-free responder, in (release, call) order.
        for release, call in sorted(jobs):
            p = self.precinct_of_cell[self.call_cell[call]]
            pool = self.pool_free[p]
            server = min(range(len(pool)), key=lambda s: (pool[s], s))
            start = max(release, pool[server])
            work = self.follow_up_minutes if self.call_follow_up[call] else self.call_service[call]
            pool[server] = start + self.pool_travel[p] + work
            self.call_pool_start[call] = start

        # 4. Presence and visibility at t1.
        count = [0] * self.n_cells
        covered = [False] * self.n_cells
        r = self.visible_radius
        for n in range(self.n_units):
            if self.unit_status[n] == EN_ROUTE:
                continue
            cell = self.unit_cell[n]
            count[cell] += 1
            row, col = divmod(cell, self.cols)
            for rr in range(max(row - r, 0), min(row + r, self.rows - 1) + 1):
                for cc in range(max(col - r, 0), min(col + r, self.cols - 1) + 1):
                    covered[rr * self.cols + cc] = True
        for c in range(self.n_cells):
            self.presence[c] = self.presence[c] * self.decay
            self.presence[c] = self.presence[c] + self.step_minutes * count[c]
            self.occupied_steps[c] += count[c]
            self.covered_steps[c] += int(covered[c])
        self.step_count += 1

    def _next_event(self, t1: float) -> tuple[float, int, int] | None:
        """The step's next event as ``(time, kind, unit or call)``, the least in that order."""
        events = [
            (self.unit_free_at[n], _UNIT_EVENT, n)
            for n in range(self.n_units)
            if self.unit_status[n] != IDLE and self.unit_free_at[n] <= t1
        ]
        call = self.next_call
        if call < self.n_calls and self.call_time[call] < t1:
            events.append((self.call_time[call], _ARRIVAL, call))
        call = self.next_overdue
        if call < self.next_call and self.call_time[call] + self.fallback_minutes <= t1:
            events.append((self.call_time[call] + self.fallback_minutes, _OVERDUE, call))
        return min(events, default=None)

    def _admit(self, jobs: list[tuple[float, int]], hour: int) -> None:
        """The next call arrives; theft is thinned by presence as it stood at t0."""
        call = self.next_call
        self.next_call += 1
        ctype, cell = self.call_type[call], self.call_cell[call]
        if self.deterrable[ctype]:
            factor = deterrence_factor(np.array([self._nearby_presence(cell)]), self.deterrence)
            self.call_theft_chance[call] = float(factor[0])
            if not self.call_theft_u[call] < float(factor[0]):
                self.call_status[call] = DETERRED
                return
        if not self.patrol_type[ctype]:
            self.call_status[call] = HANDED_OVER
            jobs.append((self.call_time[call], call))
            return
        self.call_status[call] = PENDING
        self.pending.add(call)
        self.call_stage[call] = self.dispatch.arrival_stage
        if self.call_stage[call] > 0:
            self._command_centre(call, self.call_time[call], hour)

    def _eligible(self, unit: int, call: int, hour: int) -> bool:
        """May the command centre send ``unit`` to waiting ``call``?"""
        stage = self.call_stage[call]
        if stage == ANY_UNIT:
            return True
        return stage == ZONE_UNITS and bool(self.dispatch.zone[hour, unit, self.call_cell[call]])

    def _command_centre(self, call: int, at: float, hour: int) -> None:
        """Send ``call`` to the nearest available eligible unit, if there is one."""
        best_unit, best_travel = -1, math.inf
        for n in range(self.n_units):
            if self.unit_status[n] not in (IDLE, MOVING) or not self._eligible(n, call, hour):
                continue
            travel = self.unit_travel[n][self.unit_cell[n]][self.call_cell[call]]
            if travel < best_travel:
                best_unit, best_travel = n, travel
        if best_unit >= 0:
            self._command_dispatch(best_unit, call, at, best_travel)

    def _take_waiting_call(self, unit: int, at: float, hour: int) -> None:
        """A released unit takes the oldest call waiting for it, if any."""
        waiting = sorted(c for c in self.pending if self._eligible(unit, c, hour))
        if waiting:
            call = waiting[0]
            travel = self.unit_travel[unit][self.unit_cell[unit]][self.call_cell[call]]
            self._command_dispatch(unit, call, at, travel)

    def _command_dispatch(self, unit: int, call: int, at: float, travel: float) -> None:
        self._dispatch(unit, call, at, travel)
        if self.call_time[call] + self.fallback_minutes <= at:
            self.call_by_fallback[call] = True
            self.fallback_dispatches += 1

    def _dispatch(self, unit: int, call: int, at: float, travel: float) -> None:
        self.unit_status[unit] = EN_ROUTE
        self.unit_free_at[unit] = at + travel
        self.unit_target[unit] = self.call_cell[call]
        self.unit_call[unit] = call
        self.unit_busy_minutes[unit] += travel
        self.call_status[call] = ASSIGNED
        self.call_unit[call] = unit
        self.call_dispatch[call] = at
        self.pending.discard(call)

    def _unit_event(self, n: int, jobs: list[tuple[float, int]]) -> None:
        status = self.unit_status[n]
        if status == MOVING:
            self.unit_cell[n] = self.unit_target[n]
            self.unit_status[n] = IDLE
        elif status == EN_ROUTE:
            call = self.unit_call[n]
            arrival = self.unit_free_at[n]
            self.unit_cell[n] = self.unit_target[n]
            self.unit_status[n] = ON_SCENE
            service = self.call_service[call]
            self.unit_free_at[n] = arrival + service
            self.unit_busy_minutes[n] += service
            self.unit_calls_served[n] += 1
            self.call_status[call] = SERVED
            self.call_arrival[call] = arrival
            self.call_closed[call] = (
                self.call_closure_u[call] < self.closure_prob[self.call_type[call]]
            )
        elif status == ON_SCENE:
            call = self.unit_call[n]
            self.unit_status[n] = IDLE
            self.unit_call[n] = -1
            if not self.call_closed[call]:
                self.call_follow_up[call] = True
                jobs.append((self.unit_free_at[n], call))

    def _nearby_presence(self, cell: int) -> float:
        around = 0.0
        for nb in self.neighbour[cell]:  # N, S, E, W
            around = around + (self.presence[nb] if nb >= 0 else 0.0)
        return self.presence[cell] + self.neighbour_weight * around

    # ------------------------------------------------------------------ record
    def record(self) -> EpisodeRecord:
        """The episode so far, for :func:`patrolmarl.envs.metrics.episode_metrics`."""
        return EpisodeRecord(
            time=np.array(self.call_time, dtype=float),
            type=np.array(self.call_type, dtype=np.int64),
            cell=np.array(self.call_cell, dtype=np.int64),
            status=np.array(self.call_status, dtype=np.int8),
            unit=np.array(self.call_unit, dtype=np.int64),
            dispatch_time=np.array(self.call_dispatch, dtype=float),
            arrival_time=np.array(self.call_arrival, dtype=float),
            by_fallback=np.array(self.call_by_fallback, dtype=bool),
            closed=np.array(self.call_closed, dtype=bool),
            follow_up=np.array(self.call_follow_up, dtype=bool),
            pool_start=np.array(self.call_pool_start, dtype=float),
            theft_chance=np.array(self.call_theft_chance, dtype=float),
            unit_busy_minutes=np.array(self.unit_busy_minutes, dtype=float),
            unit_calls_served=np.array(self.unit_calls_served, dtype=np.int64),
            covered_steps=np.array(self.covered_steps, dtype=np.int64),
            occupied_steps=np.array(self.occupied_steps, dtype=np.int64),
            steps=self.step_count,
            step_minutes=self.step_minutes,
        )
