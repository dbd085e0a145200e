"""The batched core against the plain per-district reference, step by step.

Both simulators run the same days (seeds) under the same random actions; every
unit's state, the pending calls, the presence field and the final episode
records must be identical, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.dispatch_rule import AGENTS, NEAREST, DispatchRule, zone_rule
from patrolmarl.envs.district import District
from patrolmarl.envs.metrics import episode_metrics
from patrolmarl.envs.reference import ReferenceSim
from patrolmarl.envs.status import DETERRED, FIRST_ACCEPT

BUSY = {
    "call_types.noise.daily_rate": 400,
    "call_types.dispute.daily_rate": 150,
    "call_types.theft.daily_rate": 250,
    "call_types.compound.daily_rate": 300,
    "precincts.1.responders": 1,
    "episode_minutes": 300,
}

CONFIGS = {
    # The default district, a whole day (its calls are sparse).
    "default": {},
    # Many calls: queues at the units and in the precinct pools, lots of thefts.
    "busy": BUSY,
    # Long steps, immediate fallback, follow-ups, evening start, wider sight.
    "coarse": {
        **BUSY,
        "step_minutes": 2.5,
        "fallback_minutes": 0,
        "start_hour": 17.5,
        "visible_radius_cells": 2,
        "observed_calls": 6,
        "call_types.noise.closure_prob": 0.3,
        "call_types.dispute.service": {"dist": "exponential", "mean": 12},
        "deterrence.neighbour_weight": 0.9,
        "episode_minutes": 420,
    },
    # Short steps and a late fallback: the random policy takes most calls itself.
    "fine": {
        **BUSY,
        "step_minutes": 0.5,
        "fallback_minutes": 15,
        "call_types.help.service": {"dist": "fixed", "mean": 7},
        "deterrence.half_life_minutes": 10,
        "episode_minutes": 150,
    },
    # Many pending calls (the pending table grows) and a long list of visible calls.
    "wide": {
        **BUSY,
        "call_types.noise.daily_rate": 1500,
        "observed_calls": 20,
        "fallback_minutes": 40,
        "episode_minutes": 120,
    },
}


def _district(name: str) -> District:
    return District.load("gaoxin", **CONFIGS[name])


def _random_actions(
    rng: np.random.Generator, masks: np.ndarray, invalid_share: float = 0.15
) -> np.ndarray:
    """Random actions from ``(B, N, A)`` masks: mostly allowed ones, keen on accepting.

    A share of the actions is drawn from a wider range regardless of the mask
    (forbidden or out-of-range), which both simulators must take as 0.
    """
    b, n, a = masks.shape
    actions = np.zeros((b, n), dtype=np.int64)
    for i in range(b):
        for j in range(n):
            if rng.random() < invalid_share:
                actions[i, j] = rng.integers(-2, a + 3)
                continue
            allowed = np.flatnonzero(masks[i, j])
            accepts = allowed[allowed >= FIRST_ACCEPT]
            if accepts.size and rng.random() < 0.5:
                # Mostly the nearest call, so that units compete for it.
                actions[i, j] = accepts[0] if rng.random() < 0.6 else rng.choice(accepts)
            else:
                actions[i, j] = rng.choice(allowed)
    return actions


def _assert_same_state(sim: BatchedSim, b: int, ref: ReferenceSim, where: str) -> None:
    assert int(sim.step_count[b]) == ref.step_count, where
    assert sim.unit_cell[b].tolist() == ref.unit_cell, f"unit_cell {where}"
    assert sim.unit_status[b].tolist() == ref.unit_status, f"unit_status {where}"
    assert sim.unit_free_at[b].tolist() == ref.unit_free_at, f"unit_free_at {where}"
    assert sim.unit_target[b].tolist() == ref.unit_target, f"unit_target {where}"
    assert sim.unit_call[b].tolist() == ref.unit_call, f"unit_call {where}"
    assert sim.unit_busy_minutes[b].tolist() == ref.unit_busy_minutes, f"busy {where}"
    assert sim.unit_calls_served[b].tolist() == ref.unit_calls_served, f"served {where}"
    pending = sim.pending[b][sim.pending[b] >= 0].tolist()
    assert len(pending) == len(set(pending)), f"duplicate pending slot {where}"
    assert set(pending) == ref.pending, f"pending {where}"
    assert sim.presence[b].tolist() == ref.presence, f"presence {where}"
    assert sim.occupied_steps[b].tolist() == ref.occupied_steps, f"occupied {where}"
    assert sim.covered_steps[b].tolist() == ref.covered_steps, f"covered {where}"
    assert int(sim.fallback_dispatches[b]) == ref.fallback_dispatches, f"fallback {where}"
    for p, servers in enumerate(ref.pool_free):
        got = sim.pool_free[b, p, : len(servers)].tolist()
        assert got == servers, f"pool {p} {where}"
    for n in range(sim.n_units):
        expect = ref.nearest_calls(n)
        k = len(expect)
        assert sim.nearest_call[b, n, :k].tolist() == [c for c, _ in expect], f"near {where}"
        assert sim.nearest_travel[b, n, :k].tolist() == [t for _, t in expect], f"near {where}"
        assert (sim.nearest_call[b, n, k:] == -1).all(), f"nearest padding {where}"
    assert np.array_equal(sim.action_masks()[b], ref.action_mask()), f"masks {where}"


def _same_metric(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_metric(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_metric(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def _assert_same_records(sim: BatchedSim, b: int, ref: ReferenceSim) -> None:
    rec, ref_rec = sim.record(b), ref.record()
    assert rec.equals(ref_rec) == [], f"district {b}"
    assert ref_rec.equals(rec) == []
    m_sim = episode_metrics(rec, sim.incidents)
    m_ref = episode_metrics(ref_rec, ref.incidents)
    assert _same_metric(m_sim, m_ref), (m_sim, m_ref)


def _run(
    district: District, seeds: list[int], policy_seed: int, rule: DispatchRule = AGENTS
) -> dict[str, int]:
    """Run both simulators to the horizon; returns a few event counts for sanity checks."""
    sim = BatchedSim(district, batch_size=len(seeds))
    sim.set_dispatch(rule)
    sim.reset(seeds)
    refs = [ReferenceSim(district) for _ in seeds]
    for ref, seed in zip(refs, seeds, strict=True):
        ref.set_dispatch(rule)
        ref.reset(seed)
    rng = np.random.default_rng(policy_seed)
    conflicts = most_pending = 0
    for step in range(sim.n_steps):
        masks = sim.action_masks()
        actions = _random_actions(rng, masks)
        for b in range(len(seeds)):
            chosen = [
                int(sim.nearest_call[b, n, a - FIRST_ACCEPT])
                for n, a in enumerate(actions[b])
                if masks[b, n, min(max(a, 0), masks.shape[2] - 1)]
                and 0 <= a < masks.shape[2]
                and a >= FIRST_ACCEPT
            ]
            conflicts += len(chosen) - len(set(chosen))
        sim.step(actions)
        for b, ref in enumerate(refs):
            ref.step(actions[b].tolist())
            _assert_same_state(sim, b, ref, f"seed {seeds[b]} step {step}")
            most_pending = max(most_pending, len(ref.pending))
    assert sim.done.all()
    for b, ref in enumerate(refs):
        assert ref.done
        _assert_same_records(sim, b, ref)
    records = [ref.record() for ref in refs]
    dispatched = np.concatenate([r.dispatch_time for r in records])
    made = np.concatenate([r.time for r in records])
    return {
        "instant": int((dispatched == made).sum()),
        "inside_step": int((dispatched % district.config.simulation.step_minutes != 0).sum()),
        "most_pending": most_pending,
        "conflicts": conflicts,
        "calls": sum(int(r.time.size) for r in records),
        "fallback": sum(int(r.by_fallback.sum()) for r in records),
        "follow_up": sum(int(r.follow_up.sum()) for r in records),
        "deterred": sum(ref.call_status.count(DETERRED) for ref in refs),
    }


@pytest.mark.parametrize(
    ("config", "seeds", "policy_seed"),
    [
        ("default", [11, 12, 13], 0),
        ("busy", [1, 2, 3], 1),
        ("busy", [101, 202, 303, 404], 2),
        ("coarse", [7, 8, 9], 3),
        ("fine", [21, 22, 23], 4),
        ("wide", [1, 2, 3], 5),
    ],
)
def test_batched_matches_reference(config: str, seeds: list[int], policy_seed: int) -> None:
    counts = _run(_district(config), seeds, policy_seed)
    assert counts["calls"] > 0
    if config != "default":
        # The busy variants must really exercise the tricky rules.
        assert counts["fallback"] > 0
        assert counts["follow_up"] > 0
        assert counts["deterred"] > 0
    if config in ("busy", "fine", "wide"):
        # Calls stay pending for a while, so units compete for the same call.
        assert counts["conflicts"] > 0
    if config == "wide":
        assert counts["most_pending"] > 20  # more than the initial pending table holds


def _random_zones(district: District, seed: int) -> DispatchRule:
    """A zone rule whose zones change by the hour and leave some cells to no unit."""
    rng = np.random.default_rng(seed)
    return zone_rule(rng.random((24, district.n_units, district.n_cells)) < 0.3)


@pytest.mark.parametrize(
    ("config", "seeds", "policy_seed", "zones"),
    [
        ("busy", [1, 2, 3], 6, False),
        ("coarse", [7, 8], 7, False),
        ("busy", [4, 5, 6], 8, True),
        ("coarse", [9, 10], 9, True),
        ("fine", [31, 32], 10, True),
    ],
)
def test_command_centre_rules_match_reference(
    config: str, seeds: list[int], policy_seed: int, zones: bool
) -> None:
    district = _district(config)
    rule = _random_zones(district, policy_seed) if zones else NEAREST
    counts = _run(district, seeds, policy_seed, rule)
    # Calls are reached at the instant they can be, inside steps.
    assert counts["instant"] > 0
    assert counts["inside_step"] > counts["instant"]  # released units take waiting calls
    assert counts["conflicts"] == 0  # units cannot accept: the command centre dispatches
    assert counts["fallback"] > 0  # calls wait past their fallback time for a unit


def test_partial_reset_matches_fresh_references() -> None:
    district = _district("busy")
    seeds = [31, 32, 33, 34]
    sim = BatchedSim(district, batch_size=4, seed=5)
    sim.reset(seeds)
    refs = [ReferenceSim(district) for _ in seeds]
    for ref, seed in zip(refs, seeds, strict=True):
        ref.reset(seed)
    rng = np.random.default_rng(9)

    def advance(steps: int) -> None:
        for _ in range(steps):
            actions = _random_actions(rng, sim.action_masks())
            sim.step(actions)
            for b, ref in enumerate(refs):
                ref.step(actions[b].tolist())
                _assert_same_state(sim, b, ref, f"district {b} step {ref.step_count}")

    advance(120)
    mask = np.array([True, False, True, False])
    sim.reset([77, [5, 6]], mask=mask)
    for b, seed in ((0, 77), (2, [5, 6])):
        refs[b] = ReferenceSim(district)
        refs[b].reset(seed)
        _assert_same_state(sim, b, refs[b], f"district {b} after reset")
    # The districts left running are untouched by the partial reset.
    for b in (1, 3):
        _assert_same_state(sim, b, refs[b], f"district {b} after others' reset")
    advance(sim.n_steps - 120)
    assert sim.done[[1, 3]].all() and not sim.done[[0, 2]].any()
    for b in (1, 3):
        _assert_same_records(sim, b, refs[b])
    # Auto-reset the finished ones from the simulator's own seeds, then run all out.
    sim.reset(mask=sim.done)
    for b in (1, 3):
        refs[b] = ReferenceSim(district)
        refs[b].reset(sim.episode_seed[b])
    advance(120)
    assert sim.done[[0, 2]].all()
    for b in range(4):
        _assert_same_records(sim, b, refs[b])


def test_stepping_a_finished_district_is_refused() -> None:
    district = District.load("gaoxin", episode_minutes=3)
    sim = BatchedSim(district, batch_size=3)
    sim.reset([1, 2, 3])
    ref = ReferenceSim(district)
    ref.reset(1)
    for _ in range(3):
        sim.step(np.zeros((3, sim.n_units), dtype=np.int64))
        ref.step([0] * ref.n_units)
    with pytest.raises(RuntimeError):
        sim.step(np.zeros((3, sim.n_units), dtype=np.int64))
    with pytest.raises(RuntimeError):
        ref.step([0] * ref.n_units)
