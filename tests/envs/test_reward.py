"""The shaped reward: placement, waiting calls, theft deterrence and the weights."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.coverage import deterrence_factor
from patrolmarl.envs.district import District
from patrolmarl.envs.reward import DEFAULT_WEIGHTS, ShapedReward, shaped_reward
from patrolmarl.envs.status import ASSIGNED, EN_ROUTE, IDLE, MOVING, ON_SCENE, PENDING, SERVED
from tests.helpers import short_busy_gaoxin


@pytest.fixture(scope="module")
def district() -> District:
    return District.load("gaoxin", episode_minutes=300)


def _stay(sim: BatchedSim) -> np.ndarray:
    return np.zeros((sim.batch_size, sim.n_units), dtype=np.int64)


def _brute_expected_response(sim: BatchedSim, b: int) -> float:
    """Plain loops: step * sum_c street_rate(hour, c) * travel of the nearest available unit."""
    inc = sim.incidents
    rate = inc.rate_per_minute[int(sim.hour_of_day[b])][inc.patrol_type].sum(axis=0)
    travel = sim.district.unit_travel_minutes
    total = 0.0
    for c in range(sim.district.n_cells):
        best = min(
            travel[n, sim.unit_cell[b, n], c]
            for n in range(sim.n_units)
            if sim.unit_status[b, n] in (IDLE, MOVING)
        )
        total += rate[c] * best
    return sim.step_minutes * total


def test_far_placement_is_worse_than_sitting_at_the_intensity(district):
    sim = BatchedSim(district, batch_size=2, seed=0)
    sim.reset(seeds=[1, 1])
    rate = sim.incidents.street_rate_per_minute()[int(sim.hour_of_day[0])]
    hottest = np.argsort(-rate, kind="stable")[: sim.n_units]
    sim.unit_cell[0] = hottest  # at the high-intensity cells
    sim.unit_cell[1] = 0  # all in the north-west corner
    reward = ShapedReward(sim)
    r = reward()
    assert r.shape == (2, sim.n_units)
    assert np.all(r == r[:, :1])  # a team reward
    assert r[0, 0] > r[1, 0]
    terms = reward.components()
    assert terms["expected_response"][0] < terms["expected_response"][1]
    # Nothing else differs between the two districts yet.
    for name in ("waiting_minutes", "expected_thefts", "closed_calls"):
        assert terms[name][0] == terms[name][1]
    for b in range(2):
        assert terms["expected_response"][b] == pytest.approx(_brute_expected_response(sim, b))


def test_expected_response_matches_brute_force_while_running(district):
    sim = BatchedSim(district, batch_size=3, seed=0)
    sim.reset(seeds=[4, 5, 6])
    reward = ShapedReward(sim)
    rng = np.random.default_rng(0)
    for t in range(120):
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
        if t % 20 == 0:
            got = reward.expected_response()
            for b in range(3):
                if ((sim.unit_status[b] == IDLE) | (sim.unit_status[b] == MOVING)).any():
                    assert got[b] == pytest.approx(_brute_expected_response(sim, b), rel=1e-5)


def test_no_available_unit_uses_the_first_to_finish(district):
    sim = BatchedSim(district, batch_size=1, seed=0)
    sim.reset(seeds=[0])
    sim.unit_status[:] = ON_SCENE
    sim.unit_free_at[:] = 10.0 + np.arange(sim.n_units)
    sim.unit_target[:] = sim.unit_cell
    reward = ShapedReward(sim)
    eta = reward.eta()[0]
    travel = district.unit_travel_minutes
    expected = np.min(
        [10.0 + n + travel[n, sim.unit_cell[0, n]] for n in range(sim.n_units)], axis=0
    )
    np.testing.assert_allclose(eta, expected, rtol=1e-6)
    assert np.isfinite(reward()).all()
    # An en-route unit still has its call's service ahead of it.
    sim.unit_status[0, :] = ON_SCENE
    sim.unit_free_at[0, :] = 1000.0
    sim.unit_status[0, 0] = EN_ROUTE
    sim.unit_free_at[0, 0] = 4.0
    sim.unit_call[0, 0] = 0
    sim.calls.service[0, 0] = 20.0
    target = sim.unit_target[0, 0]
    assert reward.eta()[0, target] == pytest.approx(24.0)


def _heavy_sim(batch: int = 2) -> BatchedSim:
    heavy = District.load(
        "gaoxin", episode_minutes=150, **{"call_types.dispute.daily_rate": 3000.0}
    )
    sim = BatchedSim(heavy, batch_size=batch, seed=0)
    sim.reset(seeds=list(range(10, 10 + batch)))
    return sim


def test_waiting_calls_are_counted(district):
    sim = _heavy_sim()
    reward = ShapedReward(sim)
    quiet = ShapedReward(sim, waiting=0.0)
    seen_waiting = False
    for _ in range(60):
        sim.step(_stay(sim))
        waiting = reward.waiting_minutes()
        log = sim.calls
        now = sim.now[:, None]
        pending = log.status == PENDING
        # Every call pending for the whole step adds a full step.
        old = pending & (log.time <= now - sim.step_minutes)
        assert np.all(waiting >= old.sum(axis=1) * sim.step_minutes - 1e-9)
        np.testing.assert_allclose(reward() - quiet(), -waiting[:, None] * np.ones(sim.n_units))
        seen_waiting |= bool((old.sum(axis=1) > 0).any())
    assert seen_waiting


def test_waiting_minutes_add_up_to_the_realised_response(district):
    sim = _heavy_sim()
    reward = ShapedReward(sim)
    rng = np.random.default_rng(1)
    total = np.zeros(sim.batch_size)
    while not sim.done.all():
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
        total += reward.waiting_minutes()
    log = sim.calls
    end = sim.now[:, None]
    served = log.status == SERVED
    open_ = (log.status == PENDING) | (log.status == ASSIGNED)
    response = np.where(served, log.arrival_time - log.time, 0.0).sum(axis=1)
    still_waiting = np.where(open_, end - log.time, 0.0).sum(axis=1)
    assert served.sum() > 0 and open_.sum() > 0
    np.testing.assert_allclose(total, response + still_waiting, rtol=1e-9)


def test_presence_lowers_expected_thefts(district):
    sim = BatchedSim(district, batch_size=2, seed=0)
    sim.reset(seeds=[3, 3])
    reward = ShapedReward(sim)
    before = reward.expected_thefts()
    assert before[0] == before[1] > 0
    theft_rate = sim.incidents.rate_per_minute[:, sim.incidents.deterrable].sum(axis=1)
    hot = int(np.argmax(theft_rate[int(sim.hour_of_day[0])]))
    sim.unit_cell[0] = hot  # district 0 camps on the theft hot spot
    for _ in range(30):
        sim.step(_stay(sim))
    after = reward.expected_thefts()
    assert after[0] < after[1]
    # Brute force with the simulator's own rule (own cell + weighted neighbours).
    d = sim.district
    w = d.config.deterrence.neighbour_weight
    for b in range(2):
        p = sim.presence[b]
        nearby = np.array(
            [p[c] + w * sum(p[n] for n in d.neighbour[c] if n >= 0) for c in range(d.n_cells)]
        )
        factor = deterrence_factor(nearby, d.config.deterrence)
        rate = theft_rate[int(sim.hour_of_day[b])]
        assert after[b] == pytest.approx(sim.step_minutes * float(rate @ factor))
    r = reward()
    assert r[0, 0] != r[1, 0]


def test_weights_change_the_reward_as_documented(district):
    sim = _heavy_sim()
    rng = np.random.default_rng(2)
    for _ in range(40):
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
    base = ShapedReward(sim)
    assert base.weights == DEFAULT_WEIGHTS
    terms = base.components()
    assert all(v.shape == (sim.batch_size,) for v in terms.values())
    assert terms["waiting_minutes"].max() > 0
    expected = (
        -DEFAULT_WEIGHTS["response"] * terms["expected_response"]
        - DEFAULT_WEIGHTS["waiting"] * terms["waiting_minutes"]
        - DEFAULT_WEIGHTS["theft"] * terms["expected_thefts"]
        + DEFAULT_WEIGHTS["closure"] * terms["closed_calls"]
    )
    np.testing.assert_allclose(base.team_reward(), expected)
    np.testing.assert_allclose(base()[:, 0], expected)
    np.testing.assert_allclose(shaped_reward(sim), base())

    w = {"response": 2.0, "waiting": 0.5, "theft": 10.0, "closure": 3.0}
    custom = ShapedReward(sim, **w)
    np.testing.assert_allclose(
        custom.team_reward(),
        -2.0 * terms["expected_response"]
        - 0.5 * terms["waiting_minutes"]
        - 10.0 * terms["expected_thefts"]
        + 3.0 * terms["closed_calls"],
    )
    zero = ShapedReward(sim, response=0.0, waiting=0.0, theft=0.0, closure=0.0)
    np.testing.assert_array_equal(zero(), 0.0)
    # More weight on theft: a lower reward by exactly the extra weight times the term.
    more_theft = ShapedReward(sim, theft=DEFAULT_WEIGHTS["theft"] + 1.0)
    np.testing.assert_allclose(
        base.team_reward() - more_theft.team_reward(), terms["expected_thefts"]
    )
    with pytest.raises(TypeError):
        ShapedReward(sim, speed=1.0)  # type: ignore[call-arg]


def test_closed_calls_are_counted_once(district):
    sim = _heavy_sim(batch=1)
    reward = ShapedReward(sim)
    rng = np.random.default_rng(3)
    counted = 0.0
    while not sim.done.all():
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
        counted += float(reward.closed_calls()[0])
    log = sim.calls
    closed = (log.status[0] == SERVED) & log.closed[0]
    # Arrivals exactly at the horizon fall into the next (non-existent) step.
    late = closed & (log.arrival_time[0] >= sim.now[0])
    assert closed.sum() > 0
    assert counted == closed.sum() - late.sum()


def test_local_credit_splits_the_team_reward_among_units():
    d = short_busy_gaoxin()
    sim = BatchedSim(d, batch_size=3, seed=0)
    sim.reset()
    team = ShapedReward(sim, closure=1.0)
    local = ShapedReward(sim, closure=1.0, credit="local")
    rng = np.random.default_rng(0)
    spread = 0.0
    for _ in range(200):
        masks = sim.action_masks()
        score = rng.random(masks.shape)
        score[~masks] = -1.0
        sim.step(score.argmax(axis=2))
        per_unit = local()
        np.testing.assert_allclose(per_unit.sum(axis=1), team.team_reward(), rtol=1e-12, atol=1e-12)
        spread = max(spread, float(np.ptp(per_unit, axis=1).max()))
    assert spread > 0.0  # units are credited differently, not the team value split evenly


def test_local_credit_charges_a_cell_to_the_unit_nearest_it():
    d = District.load("gaoxin", episode_minutes=60)
    sim = BatchedSim(d, batch_size=1, seed=0)
    sim.reset()
    local = ShapedReward(sim, waiting=0.0, theft=0.0, credit="local")
    # Park every unit but unit 0 in one corner: unit 0 (at its start) owns most cells.
    sim.unit_cell[0, 1:] = 0
    per_unit = local()[0]
    assert per_unit[0] < per_unit[1:].sum()  # unit 0 carries most of the response cost


def test_unknown_credit_is_refused():
    sim = BatchedSim(District.load("gaoxin", episode_minutes=60), batch_size=1)
    with pytest.raises(ValueError, match="credit"):
        ShapedReward(sim, credit="shared")


def test_difference_credit_pays_each_unit_its_marginal_response_value():
    d = District.load("gaoxin", episode_minutes=240)
    sim = BatchedSim(d, batch_size=2, seed=0)
    sim.reset()
    rng = np.random.default_rng(1)
    for _ in range(60):
        masks = sim.action_masks()
        score = rng.random(masks.shape)
        score[~masks] = -1.0
        sim.step(score.argmax(axis=2))
    team = ShapedReward(sim)
    difference = ShapedReward(sim, credit="difference")
    rewards = difference()
    terms = team.components()
    shared = -(terms["waiting_minutes"] + DEFAULT_WEIGHTS["theft"] * terms["expected_thefts"])
    for unit in np.flatnonzero((sim.unit_status[0] == IDLE) | (sim.unit_status[0] == MOVING))[:4]:
        with_unit = team.expected_response()[0]
        saved = sim.unit_status[0, unit], sim.unit_free_at[0, unit]
        sim.unit_status[0, unit] = ON_SCENE  # take the unit out of reach
        sim.unit_free_at[0, unit] = sim.now[0] + 1e6
        without_unit = team.expected_response()[0]
        sim.unit_status[0, unit], sim.unit_free_at[0, unit] = saved
        marginal = rewards[0, unit] - shared[0]
        # travel tables are float32 in the reward: agree to float32 precision
        assert marginal == pytest.approx(without_unit - with_unit, rel=1e-6, abs=1e-9)
        assert marginal >= 0.0


def test_team_difference_credit_adds_the_marginal_value_to_the_team_reward():
    d = District.load("gaoxin", episode_minutes=120)
    sim = BatchedSim(d, batch_size=2, seed=3)
    sim.reset()
    for _ in range(30):
        sim.step(np.zeros((2, d.n_units), dtype=np.int64))
    team = ShapedReward(sim)
    mixed = ShapedReward(sim, credit="team_difference")
    expected = team.team_reward()[:, None] + team.marginal_response()
    np.testing.assert_allclose(mixed(), expected, rtol=1e-12)
    assert (team.marginal_response() > 0).any()
