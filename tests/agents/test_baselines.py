"""Defining behaviour of the baselines on gaoxin: fixed_zone, nearest, pmedian, coverage, random."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from patrolmarl.agents.baselines import (
    CoveragePolicy,
    FixedZonePolicy,
    NearestPolicy,
    PMedianPolicy,
    RandomPolicy,
    patrol_weights,
)
from patrolmarl.agents.fixed_zones import fixed_zone_beats
from patrolmarl.agents.policy import policy_dispatch
from patrolmarl.envs.boundary_accepts import boundary_accepts
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.envs.reward import ShapedReward
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import ASSIGNED, FIRST_ACCEPT, IDLE, MOVING, SERVED
from tests.helpers import SHORT_BUSY, short_busy_gaoxin

SEEDS = [[11, 0], [11, 1], [11, 2]]


@functools.cache
def _very_busy() -> District:
    """Calls outnumber free units at times, so some wait for one (no p-median needed)."""
    return District.load("gaoxin", **{**SHORT_BUSY, "call_types.noise.daily_rate": 3000})


def _episode(policy, seeds=SEEDS, district=None, boundary=False):
    """Yield ``(sim, masks, actions)`` before every step of one batched episode.

    The policy's dispatch rule runs in the simulator's command centre, or with
    ``boundary`` as the agents' accepts at step boundaries (the imitation labels).
    """
    sim = BatchedSim(district or short_busy_gaoxin(), batch_size=len(seeds))
    view = SimView(sim)
    policy.bind(view)
    rule = policy_dispatch(policy)
    if not boundary:
        sim.set_dispatch(rule)
    sim.reset(seeds=seeds)
    policy.reset(np.ones(len(seeds), dtype=bool))
    while not sim.done.any():
        masks = sim.action_masks()
        actions = policy.act(None, masks)
        if boundary:
            actions = boundary_accepts(view, rule, actions)
        assert np.take_along_axis(masks, actions[..., None], axis=2).all()
        yield sim, masks, actions
        sim.step(actions)


def _accepted_calls(sim: BatchedSim, actions: np.ndarray, b: int) -> dict[int, tuple[int, int]]:
    """``{call: (unit, k)}`` of district ``b``'s accept actions (one unit per call)."""
    accepted: dict[int, tuple[int, int]] = {}
    for n in np.flatnonzero(actions[b] >= FIRST_ACCEPT):
        k = int(actions[b, n] - FIRST_ACCEPT)
        call = int(sim.nearest_call[b, n, k])
        assert call >= 0
        assert call not in accepted, f"two units accept call {call}"
        accepted[call] = (int(n), k)
    return accepted


# --------------------------------------------------------------------- fixed_zone
def test_fixed_zone_beats_partition_each_precinct_among_its_units():
    d = short_busy_gaoxin()
    sim = BatchedSim(d, batch_size=1)
    policy = FixedZonePolicy(seed=0)
    policy.bind(SimView(sim))
    beats = policy.areas
    assert beats.shape == (d.n_units, d.n_cells)
    assert beats.dtype == bool
    # Disjoint and covering: every cell lies in exactly one beat.
    np.testing.assert_array_equal(beats.sum(axis=0), np.ones(d.n_cells))
    owners: dict[int, list[int]] = {p: [] for p in range(d.n_precincts)}
    for n in range(d.n_units):
        cells = np.flatnonzero(beats[n])
        assert cells.size > 0, f"unit {n} has an empty beat"
        precincts = np.unique(d.precinct_of_cell[cells])
        assert precincts.size == 1, f"unit {n}'s beat spans precincts {precincts}"
        p = int(precincts[0])
        assert d.unit_home_precincts[n, p], f"unit {n} has a beat outside its bound precincts"
        owners[p].append(n)
    for p, units in owners.items():
        assert units, f"precinct {p} has no beat"
        union = beats[units].any(axis=0)
        np.testing.assert_array_equal(union, d.precinct_of_cell == p)
    # Beats balance patrol weight roughly within each precinct (recursive bisection).
    w = patrol_weights(SimView(sim))
    for units in owners.values():
        load = beats[units] @ w
        assert load.max() <= 3.0 * load.min()


def _components(district: District, cells: np.ndarray) -> int:
    index = {int(c): i for i, c in enumerate(cells)}
    edges = [
        (index[int(c)], index[int(nb)])
        for c in cells
        for nb in district.neighbour[c]
        if int(nb) in index
    ]
    src, dst = zip(*edges, strict=True) if edges else ((), ())
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(cells.size, cells.size))
    return int(connected_components(graph, directed=False)[0])


@pytest.mark.parametrize("overrides", [{}, SHORT_BUSY])
def test_fixed_zone_beats_are_connected(overrides):
    d = District.load("gaoxin", **overrides)
    beats = fixed_zone_beats(d, patrol_weights(SimView(BatchedSim(d, batch_size=1))))
    split = [n for n in range(d.n_units) if _components(d, np.flatnonzero(beats[n])) != 1]
    assert split == [], f"units with a disconnected beat: {split}"


def test_fixed_zone_command_centre_sends_calls_to_their_beats_units():
    """Under fixed_zone's rule a call goes at once to a unit of its beat if one is free;
    otherwise it waits for one, or for its fallback, after which any unit may take it."""
    policy = FixedZonePolicy(seed=1)
    *_, (sim, _, _) = _episode(policy)  # run the episode to its last step
    fallback = sim.district.config.simulation.fallback_minutes
    log = sim.calls
    sent = ~np.isnan(log.dispatch_time)
    b, call = np.nonzero(sent & ~log.by_fallback)
    assert policy.areas[log.unit[b, call], log.cell[b, call]].all()
    assert (log.dispatch_time[b, call] < log.time[b, call] + fallback).all()
    instant = log.dispatch_time[b, call] == log.time[b, call]
    assert instant.sum() > 20 and (~instant).sum() > 0  # waited for a beat unit's release
    b, call = np.nonzero(sent & log.by_fallback)
    assert call.size > 0 and (log.dispatch_time[b, call] >= log.time[b, call] + fallback).all()
    assert not policy.areas[log.unit[b, call], log.cell[b, call]].all()  # zone-blind


def test_fixed_zone_boundary_accepts_only_calls_in_the_accepting_units_beat():
    policy = FixedZonePolicy(seed=1)
    accepts = in_beat_chances = 0
    sim = None
    for sim, _, actions in _episode(policy, boundary=True):
        beats = policy.areas
        available = (sim.unit_status == IDLE) | (sim.unit_status == MOVING)
        cells = sim.calls.cell[
            np.arange(sim.batch_size)[:, None, None], np.maximum(sim.nearest_call, 0)
        ]
        listed = sim.nearest_call >= 0
        for b, n in zip(*np.nonzero(actions >= FIRST_ACCEPT), strict=True):
            k = actions[b, n] - FIRST_ACCEPT
            call = sim.nearest_call[b, n, k]
            assert call >= 0
            assert beats[n, sim.calls.cell[b, call]], (
                f"unit {n} accepted call {call} at cell {sim.calls.cell[b, call]} outside its beat"
            )
            accepts += 1
        # An available unit with a call of its beat in its list takes the nearest such call.
        in_beat = listed & beats[np.arange(sim.n_units)[None, :, None], cells]
        for b, n in zip(*np.nonzero(available & in_beat.any(axis=2)), strict=True):
            in_beat_chances += 1
            assert actions[b, n] == FIRST_ACCEPT + int(np.argmax(in_beat[b, n]))
        # Without an own-beat call, a unit never accepts.
        idle_ones = ~in_beat.any(axis=2)
        assert not (idle_ones & (actions >= FIRST_ACCEPT)).any()
    assert accepts > 20 and in_beat_chances > 20
    # Calls outside the free units' beats wait for the command centre's fallback.
    assert sim.fallback_dispatches.sum() > 0


# ----------------------------------------------------------------------- nearest
def _check_nearest_rule(sim: BatchedSim, actions: np.ndarray) -> tuple[int, int]:
    """Assert the "1+1" rule on one decision; returns (accepts, pending calls left)."""
    available = (sim.unit_status == IDLE) | (sim.unit_status == MOVING)
    accepts = left = 0
    for b in range(sim.batch_size):
        accepted = _accepted_calls(sim, actions, b)
        unit_call = {n: call for call, (n, _) in accepted.items()}
        for call, (n, k) in accepted.items():
            assert available[b, n]
            travel = sim.nearest_travel[b, n, k]
            for m in np.flatnonzero(available[b]):
                hit = sim.nearest_call[b, m] == call
                if not hit.any():
                    continue
                if unit_call.get(int(m), np.inf) < call:
                    continue  # m was taken by an older call first
                assert sim.nearest_travel[b, m][hit][0] >= travel, (
                    f"call {call}: unit {n} ({travel:.2f} min) accepted, but free unit {m} "
                    f"is nearer ({sim.nearest_travel[b, m][hit][0]:.2f} min)"
                )
            accepts += 1
        # A pending call nobody accepted is in no list of an available unit left free.
        for call in sim.pending[b][sim.pending[b] >= 0]:
            if int(call) in accepted:
                continue
            left += 1
            free = available[b] & (actions[b] < FIRST_ACCEPT)
            assert not (sim.nearest_call[b][free] == call).any(), (
                f"call {call} left pending although a free unit had it in its list"
            )
    return accepts, left


def _check_accepts_took_effect(sim: BatchedSim, accepted: list[tuple[int, int, int]]) -> None:
    for b, n, call in accepted:
        assert sim.calls.status[b, call] in (ASSIGNED, SERVED)
        assert sim.calls.unit[b, call] == n
        assert not sim.calls.by_fallback[b, call]


# pmedian only on the shared config: planning another config's p-medians is slow.
@pytest.mark.parametrize(
    ("policy_cls", "busy"),
    [
        (NearestPolicy, False),
        pytest.param(NearestPolicy, True, marks=pytest.mark.slow),
        (PMedianPolicy, False),
        (CoveragePolicy, False),
    ],
)
def test_nearest_boundary_accepts_send_the_nearest_free_unit(policy_cls, busy):
    accepts = left = 0
    previous: list[tuple[int, int, int]] = []
    district = _very_busy() if busy else short_busy_gaoxin()
    seeds = SEEDS[:1] if busy else SEEDS
    episode = _episode(policy_cls(seed=2), seeds=seeds, district=district, boundary=True)
    for sim, _, actions in episode:
        _check_accepts_took_effect(sim, previous)
        a, w = _check_nearest_rule(sim, actions)
        accepts += a
        left += w
        previous = [
            (b, n, int(sim.nearest_call[b, n, actions[b, n] - FIRST_ACCEPT]))
            for b, n in zip(*np.nonzero(actions >= FIRST_ACCEPT), strict=True)
        ]
    assert accepts > (5 if busy else 20)
    if busy:  # calls outnumber free units at times: the "left pending" branch is exercised
        assert left > 0


def test_nearest_takes_calls_at_once_when_units_are_free():
    """With free units everywhere, every street call is dispatched the instant it is made,
    to a unit no farther than any unit idle all step long (whose cell is known)."""
    quiet = District.load("gaoxin", episode_minutes=240, **{"call_types.noise.daily_rate": 60})
    sim = BatchedSim(quiet, batch_size=2)
    policy = NearestPolicy(seed=0)
    policy.bind(SimView(sim))
    sim.set_dispatch(policy_dispatch(policy))
    sim.reset(seeds=[[5, 0], [5, 1]])
    policy.reset(np.ones(2, dtype=bool))
    travel = quiet.unit_travel_minutes
    units = np.arange(sim.n_units)
    checked = 0
    while not sim.done.any():
        actions = policy.act(None, sim.action_masks())
        status, cell, first = sim.unit_status.copy(), sim.unit_cell.copy(), sim.next_call.copy()
        sim.step(actions)
        for b in range(2):
            for call in range(first[b], sim.next_call[b]):
                if sim.calls.status[b, call] not in (ASSIGNED, SERVED):
                    continue
                assert sim.calls.dispatch_time[b, call] == sim.calls.time[b, call]
                unit = sim.calls.unit[b, call]
                idle = (status[b] == IDLE) & (actions[b] == 0) & (sim.unit_status[b] == IDLE)
                if status[b, unit] != IDLE or actions[b, unit] != 0 or not idle.any():
                    continue
                to_call = travel[units, cell[b], sim.calls.cell[b, call]]
                assert to_call[unit] <= to_call[idle].min()
                checked += 1
    assert checked > 5
    assert sim.record(0).by_fallback.sum() == 0


# ----------------------------------------------------------------------- pmedian
# The solver itself (against brute force, edge cases): tests/agents/test_pmedian.py.


def test_pmedian_hourly_plan_onshort_busy_gaoxin():
    d = short_busy_gaoxin()
    sim = BatchedSim(d, batch_size=1)
    policy = PMedianPolicy()
    policy.bind(SimView(sim))
    plan = policy.plan
    assert plan.sites.shape == (24, d.n_units)
    assert len(plan.solutions) == 24
    street = sim.incidents.street_rate_per_minute()
    np.testing.assert_allclose(plan.call_weights, street.sum(axis=1) * 60.0)
    travel = d.travel_minutes
    for h, sol in enumerate(plan.solutions):
        assert 0 < sol.lower_bound <= sol.objective
        assert sol.gap <= 0.01, f"hour {h}: certified gap {sol.gap:.4f}"
        # The policy's sites are the solution's, re-matched within each vehicle type.
        for v in np.unique(d.unit_vehicle):
            units = d.unit_vehicle == v
            assert sorted(plan.sites[h, units]) == sorted(sol.sites[units])
        w = street[h] / street[h].sum()
        at_sites = float((travel[d.unit_vehicle, plan.sites[h]].min(axis=0) * w).sum())
        assert at_sites == pytest.approx(sol.objective, rel=1e-9)
    # No single unit can move to a site better by more than the search's 1e-5 (a local optimum).
    for h in (3, 20):
        sol = plan.solutions[h]
        w = street[h] / street[h].sum()
        cost = travel * w
        for n, v in enumerate(d.unit_vehicle):
            others = np.delete(np.arange(d.n_units), n)
            without = cost[d.unit_vehicle[others], sol.sites[others]].min(axis=0)
            best = np.minimum(without[None, :], cost[v]).sum(axis=1).min()
            assert best >= sol.objective * (1 - 1e-5)
    # The plan's bound is the call-weighted average of the hourly bounds.
    bounds = np.array([s.lower_bound for s in plan.solutions])
    assert plan.mean_travel_bound() == pytest.approx(
        float(bounds @ plan.call_weights / plan.call_weights.sum())
    )
    assert plan.mean_travel_bound() <= plan.mean_travel_at_sites()


def test_pmedian_idle_units_head_for_their_hourly_site():
    policy = PMedianPolicy()
    moves = 0
    for sim, _, actions in _episode(policy, seeds=SEEDS[:2]):
        d = sim.district
        target = policy.plan.sites[sim.hour_of_day]  # (B, N)
        idle = sim.unit_status == IDLE
        patrol = actions < FIRST_ACCEPT
        for b, n in zip(*np.nonzero(idle & patrol), strict=True):
            cell, goal = sim.unit_cell[b, n], target[b, n]
            if cell == goal:
                assert actions[b, n] == 0
                continue
            a = int(actions[b, n])
            assert 1 <= a <= 4, "an idle unit away from its site must move"
            nxt = d.neighbour[cell, a - 1]
            own = d.unit_travel_minutes[n]
            assert own[nxt, goal] < own[cell, goal]
            moves += 1
        # Units that are not idle are never given moves.
        assert not (~idle & (actions >= 1) & (actions < FIRST_ACCEPT)).any()
    assert moves > 50


# ---------------------------------------------------------------------- coverage


def test_coverage_idle_units_take_their_best_improving_move():
    moves = stays = 0
    for sim, _, actions in _episode(CoveragePolicy(), seeds=SEEDS[:2]):
        gains = MoveGains(sim).response()
        patrolling = (sim.unit_status == IDLE) & (actions < FIRST_ACCEPT)
        for b, n in zip(*np.nonzero(patrolling), strict=True):
            if gains[b, n].max() > 0:
                assert actions[b, n] == gains[b, n].argmax() + 1
                moves += 1
            else:
                assert actions[b, n] == 0
                stays += 1
    assert moves > 20 and stays > 100


@pytest.mark.slow
def test_coverage_lowers_the_forecast_response_below_nearest():
    forecast = {}
    for policy in (NearestPolicy(seed=0), CoveragePolicy()):
        total = 0.0
        for sim, _, _ in _episode(policy):
            total += ShapedReward(sim).expected_response().sum()
        forecast[policy.name] = total
    assert forecast["coverage"] < 0.9 * forecast["nearest"]


# ------------------------------------------------------------------------ random
def test_random_takes_only_allowed_actions_and_uses_all_of_them():
    seen = np.zeros(0, dtype=np.int64)
    masked_out = 0
    for _, masks, actions in _episode(RandomPolicy(seed=4)):
        assert np.take_along_axis(masks, actions[..., None], axis=2).all()
        masked_out += int((~masks).sum())
        seen = np.union1d(seen, np.unique(actions))
    assert masked_out > 0  # the check above was not vacuous
    np.testing.assert_array_equal(seen, np.arange(seen.max() + 1))
    assert seen.max() >= FIRST_ACCEPT + 1  # stays, all four moves and several accept slots
