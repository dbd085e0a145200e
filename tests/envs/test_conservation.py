"""Invariants of the batched core that must hold at every step, whatever the policy."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.status import (
    ASSIGNED,
    DETERRED,
    EN_ROUTE,
    FIRST_ACCEPT,
    FUTURE,
    HANDED_OVER,
    IDLE,
    MOVING,
    ON_SCENE,
    PENDING,
    SERVED,
)

BUSY = {
    "call_types.noise.daily_rate": 500,
    "call_types.dispute.daily_rate": 200,
    "call_types.theft.daily_rate": 250,
    "call_types.compound.daily_rate": 300,
    "call_types.noise.closure_prob": 0.5,
    "precincts.2.responders": 1,
    "episode_minutes": 360,
}
CONFIGS = {
    "normal": {"episode_minutes": 720},
    "busy": BUSY,
    "busy_coarse": {**BUSY, "step_minutes": 3, "fallback_minutes": 2},
}


def _policy(kind: str, rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    """Random masked actions: ``"accept"`` favours accepting, ``"patrol"`` never accepts."""
    b, n, _ = masks.shape
    actions = np.zeros((b, n), dtype=np.int64)
    for i in range(b):
        for j in range(n):
            allowed = np.flatnonzero(masks[i, j])
            if kind == "patrol":
                allowed = allowed[allowed < FIRST_ACCEPT]
            elif (allowed >= FIRST_ACCEPT).any() and rng.random() < 0.6:
                allowed = allowed[allowed >= FIRST_ACCEPT]
            actions[i, j] = rng.choice(allowed)
    return actions


def _check_books(sim: BatchedSim, b: int) -> None:
    """created = served + waiting + handed over, each call in exactly one place."""
    log = sim.calls
    n = int(log.n_calls[b])
    status = log.status[b, :n]
    admitted = int(sim.next_call[b])
    now = float(sim.now[b])
    # Calls are admitted in time order, exactly those created before now.
    assert (log.time[b, :admitted] < now).all()
    assert (log.time[b, admitted:n] >= now).all()
    assert (status[admitted:] == FUTURE).all()
    assert (status[:admitted] != FUTURE).all()
    created = admitted - int((status == DETERRED).sum())

    pending = sim.pending[b][sim.pending[b] >= 0]
    assert len(set(pending.tolist())) == pending.size
    en_route = sim.unit_status[b] == EN_ROUTE
    assigned = sim.unit_call[b][en_route]
    assert len(set(assigned.tolist())) == assigned.size, "two units on one call"
    served = np.flatnonzero(~np.isnan(log.arrival_time[b, :n]))
    handed = np.flatnonzero(status == HANDED_OVER)
    # The places a created call can be are disjoint ...
    places = [set(pending.tolist()), set(assigned.tolist()), set(served.tolist()), set(handed)]
    union = set().union(*places)
    assert sum(len(p) for p in places) == len(union), "a call is in two places"
    # ... and together hold every created call: none is lost.
    assert len(union) == created
    assert created == pending.size + assigned.size + served.size + handed.size
    # The statuses agree with where the calls are.
    assert (status[pending] == PENDING).all()
    assert (status[assigned] == ASSIGNED).all()
    assert (status[served] == SERVED).all()
    assert int((status == PENDING).sum()) == pending.size
    assert int((status == ASSIGNED).sum()) == assigned.size
    assert int(sim.unit_calls_served[b].sum()) == served.size
    # Every served call was dispatched before it was reached, after it was created.
    t, d, a = log.time[b, served], log.dispatch_time[b, served], log.arrival_time[b, served]
    assert (t <= d).all() and (d <= a).all()
    # A unit on scene is at its call.
    on_scene = sim.unit_status[b] == ON_SCENE
    calls_on_scene = sim.unit_call[b][on_scene]
    assert (log.cell[b, calls_on_scene] == sim.unit_cell[b][on_scene]).all()
    assert (log.unit[b, calls_on_scene] == np.flatnonzero(on_scene)).all()


def _check_fallback(sim: BatchedSim, b: int) -> None:
    """No pending call older than fallback_minutes while a unit is available."""
    available = np.isin(sim.unit_status[b], (IDLE, MOVING)).any()
    pending = sim.pending[b][sim.pending[b] >= 0]
    if available and pending.size:
        age = float(sim.now[b]) - sim.calls.time[b, pending]
        assert (age < sim.fallback_minutes).all(), "overdue call left with a unit available"


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("kind", ["accept", "patrol"])
def test_no_call_is_lost_and_fallback_holds(config: str, kind: str) -> None:
    district = District.load("gaoxin", **CONFIGS[config])
    sim = BatchedSim(district, batch_size=3)
    sim.reset([3, 4, 5])
    rng = np.random.default_rng(17)
    waited = 0
    for _ in range(sim.n_steps):
        sim.step(_policy(kind, rng, sim.action_masks()))
        for b in range(3):
            _check_books(sim, b)
            _check_fallback(sim, b)
            waited += int((sim.pending[b] >= 0).sum())
    assert waited > 0  # calls did have to wait
    log = sim.calls
    if config != "normal":
        assert (log.status == HANDED_OVER).any() and (log.status == DETERRED).any()
        assert log.follow_up.any()
    if kind == "patrol":
        # Nobody accepts: every patrol dispatch is the command centre's.
        dispatched = ~np.isnan(log.dispatch_time)
        assert (log.by_fallback == dispatched).all() and dispatched.any()
        # Zone-blind and prompt: the dispatch is the first step boundary after the deadline.
        deadline = log.time + sim.fallback_minutes
        lag = log.dispatch_time[dispatched] - deadline[dispatched]
        assert (lag >= 0).all()


def test_fallback_dispatches_at_the_overdue_instant() -> None:
    """With nobody accepting, the command centre sends each call once it is overdue: at
    that instant if a unit is available, else when one is released; never later in the step."""
    district = District.load("gaoxin", **BUSY)
    sim = BatchedSim(district, batch_size=3)
    sim.reset([8, 9, 10])
    fallback = district.config.simulation.fallback_minutes
    at_deadline = after_deadline = 0
    for _ in range(sim.n_steps):
        before = np.isnan(sim.calls.dispatch_time).copy()
        t0 = sim.now.copy()
        sim.step(np.zeros((3, sim.n_units), dtype=np.int64))
        for b in range(3):
            new = np.flatnonzero(before[b] & ~np.isnan(sim.calls.dispatch_time[b]))
            sent, deadline = sim.calls.dispatch_time[b, new], sim.calls.time[b, new] + fallback
            assert sim.calls.by_fallback[b, new].all()
            assert ((sent > t0[b]) | (deadline == t0[b])).all() and (sent <= sim.now[b]).all()
            assert (sent >= deadline).all()
            at_deadline += int((sent == deadline).sum())
            after_deadline += int((sent > deadline).sum())
    assert at_deadline > 20 and after_deadline > 20


def test_masks_forbid_the_impossible() -> None:
    district = District.load("gaoxin", **BUSY)
    sim = BatchedSim(district, batch_size=3)
    sim.reset([40, 41, 42])
    rng = np.random.default_rng(2)
    seen = {"busy": 0, "edge": 0, "moving": 0, "empty": 0}
    for _ in range(200):
        masks = sim.action_masks()
        status = sim.unit_status
        assert masks[..., 0].all(), "stay is always allowed"
        busy = (status == EN_ROUTE) | (status == ON_SCENE)
        assert not masks[busy][:, 1:].any(), "busy units may only continue"
        seen["busy"] += int(busy.sum())
        moving = status == MOVING
        assert not masks[moving][:, 1:FIRST_ACCEPT].any(), "moving units cannot turn"
        seen["moving"] += int(moving.sum())
        off_grid = district.neighbour[sim.unit_cell] < 0  # (B, N, 4)
        assert not (masks[..., 1:FIRST_ACCEPT] & off_grid).any(), "move off the grid"
        idle = status == IDLE
        assert (masks[..., 1:FIRST_ACCEPT][idle] == ~off_grid[idle]).all()
        seen["edge"] += int((off_grid & idle[..., None]).sum())
        empty = sim.nearest_call < 0
        assert not (masks[..., FIRST_ACCEPT:] & empty).any(), "empty call slot"
        avail = idle | moving
        assert (masks[..., FIRST_ACCEPT:][avail] == ~empty[avail]).all()
        seen["empty"] += int(empty.sum())
        # Move everyone towards the northern edge now and then, to test the edge.
        actions = _policy("accept", rng, masks)
        north = masks[..., 1] & (rng.random(masks.shape[:2]) < 0.5)
        actions[north] = 1
        sim.step(actions)
    assert all(v > 0 for v in seen.values()), seen


def test_forbidden_actions_are_taken_as_stay() -> None:
    """A forbidden action changes nothing that action 0 would not change."""
    district = District.load("gaoxin", **BUSY)
    a = BatchedSim(district, batch_size=3)
    b = BatchedSim(district, batch_size=3)
    a.reset([50, 51, 52])
    b.reset([50, 51, 52])
    rng = np.random.default_rng(4)
    forbidden_taken = 0
    for _ in range(150):
        masks = a.action_masks()
        actions = _policy("accept", rng, masks)
        wild = rng.integers(-3, a.n_actions + 3, size=actions.shape)
        ok = np.take_along_axis(masks, np.clip(wild, 0, a.n_actions - 1)[..., None], 2)[..., 0]
        forbidden = ~ok | (wild < 0) | (wild >= a.n_actions)
        swap = forbidden & (rng.random(actions.shape) < 0.3)
        forbidden_taken += int(swap.sum())
        a.step(np.where(swap, wild, actions))
        b.step(np.where(swap, 0, actions))
        for name in ("unit_cell", "unit_status", "unit_free_at", "pending", "presence"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert forbidden_taken > 100


def test_conflicting_accepts_go_to_the_shortest_travel() -> None:
    district = District.load("gaoxin", **{**BUSY, "fallback_minutes": 20})
    sim = BatchedSim(district, batch_size=3)
    sim.reset([60, 61, 62])
    rng = np.random.default_rng(6)
    travel = district.unit_travel_minutes
    conflicts = strict = 0
    for _ in range(sim.n_steps):
        masks = sim.action_masks()
        actions = np.zeros((3, sim.n_units), dtype=np.int64)
        can = masks[..., FIRST_ACCEPT]
        # Everyone who can accepts one of its two nearest calls: many collisions.
        actions[can] = FIRST_ACCEPT
        second = masks[..., FIRST_ACCEPT + 1] & (rng.random(can.shape) < 0.3)
        actions[second] = FIRST_ACCEPT + 1
        actions[~can] = rng.integers(0, FIRST_ACCEPT, size=int((~can).sum()))
        t0 = sim.now.copy()
        cell0, call_of = sim.unit_cell.copy(), {}
        for b, n in zip(*np.nonzero(actions >= FIRST_ACCEPT), strict=True):
            call = int(sim.nearest_call[b, n, actions[b, n] - FIRST_ACCEPT])
            call_of.setdefault((int(b), call), []).append(int(n))
        status0 = sim.unit_status.copy()
        sim.step(actions)
        for (b, call), units in call_of.items():
            times = [travel[n, cell0[b, n], sim.calls.cell[b, call]] for n in units]
            winner = units[int(np.argmin(times))]  # argmin: lowest unit on ties
            assert sim.calls.unit[b, call] == winner
            assert sim.calls.dispatch_time[b, call] == t0[b]
            assert not sim.calls.by_fallback[b, call]
            if len(units) > 1:
                conflicts += 1
                strict += sorted(times)[0] < sorted(times)[1]
                for n in units:
                    if n != winner and sim.unit_call[b, n] == call:
                        pytest.fail("a loser went to the call")
                    if n != winner and status0[b, n] == IDLE:
                        # A loser stays put (no move), unless the fallback sent it.
                        assert sim.unit_cell[b, n] == cell0[b, n]
    assert conflicts > 20 and strict > 10
