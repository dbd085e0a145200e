"""Move gains: what each unit's next move does to the expected response and theft."""

from __future__ import annotations

import numpy as np
import pytest

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.move_gains import MoveGains
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.reward import ShapedReward
from patrolmarl.envs.status import EN_ROUTE, IDLE, MOVING, ON_SCENE


@pytest.fixture(scope="module")
def district() -> District:
    return District.load("gaoxin", episode_minutes=300)


def _running_sim(district: District, steps: int) -> BatchedSim:
    """Three districts after ``steps`` random allowed actions (units busy, moving, idle)."""
    sim = BatchedSim(district, batch_size=3, seed=0)
    sim.reset(seeds=[4, 5, 6])
    rng = np.random.default_rng(1)
    for _ in range(steps):
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
    return sim


def _with_unit_at(sim: BatchedSim, b: int, unit: int, cell: int, what) -> float:
    """``what(sim)[b]`` with ``unit`` of district ``b`` standing in ``cell`` for a moment."""
    old = sim.unit_cell[b, unit]
    sim.unit_cell[b, unit] = cell
    try:
        return float(what(sim)[b])
    finally:
        sim.unit_cell[b, unit] = old


def test_response_gain_is_the_drop_in_the_shaped_rewards_forecast(district):
    sim = _running_sim(district, 90)
    gains = MoveGains(sim).response()
    reward = ShapedReward(sim)
    total = sim.step_minutes * sim.incidents.street_rate_per_minute()[sim.hour_of_day].sum(axis=1)
    checked = 0
    for b in range(sim.batch_size):
        now = reward.expected_response()[b]
        for unit in range(sim.n_units):
            if sim.unit_status[b, unit] not in (IDLE, MOVING):
                continue
            for move, cell in enumerate(district.neighbour[sim.unit_cell[b, unit]]):
                if cell < 0:
                    assert gains[b, unit, move] == 0.0
                    continue
                moved = _with_unit_at(sim, b, unit, cell, lambda s: reward.expected_response())
                assert gains[b, unit, move] == pytest.approx((now - moved) / total[b], abs=1e-6)
                checked += 1
    assert checked > 100
    assert (gains > 0).any() and (gains < 0).any()


def test_theft_gain_is_the_slope_of_the_expected_thefts(district):
    sim = _running_sim(district, 60)
    gains = MoveGains(sim).theft()
    reward = ShapedReward(sim)
    theft = sim.incidents.rate_per_minute[:, sim.incidents.deterrable].sum(axis=1)
    total = sim.step_minutes * theft[sim.hour_of_day].sum(axis=1)
    eps = 1e-4
    base = reward.expected_thefts()

    def deterred_per_minute(b: int, cell: int) -> float:
        sim.presence[b, cell] += eps
        try:
            return (base[b] - reward.expected_thefts()[b]) / eps / total[b]
        finally:
            sim.presence[b, cell] -= eps

    for b in range(sim.batch_size):
        for unit in np.flatnonzero((sim.unit_status[b] == IDLE) | (sim.unit_status[b] == MOVING)):
            here = deterred_per_minute(b, sim.unit_cell[b, unit])
            for move, cell in enumerate(district.neighbour[sim.unit_cell[b, unit]]):
                if cell >= 0:
                    want = deterred_per_minute(b, cell) - here
                    assert gains[b, unit, move] == pytest.approx(want, rel=1e-3, abs=1e-9)


def test_units_on_a_call_have_no_gains(district):
    sim = BatchedSim(district, batch_size=3, seed=0)
    sim.reset(seeds=[4, 5, 6])
    busy = np.zeros((3, sim.n_units), dtype=bool)
    while not busy.any():  # every unit takes its nearest call when it can
        accept = sim.action_masks()[..., 5]
        sim.step(np.where(accept, 5, 0))
        busy = (sim.unit_status == EN_ROUTE) | (sim.unit_status == ON_SCENE)
    gains = MoveGains(sim)()
    assert np.all(gains[busy] == 0.0)
    assert gains.shape == (sim.batch_size, sim.n_units, 8)
    assert gains.dtype == np.float32


def test_move_gains_are_an_optional_last_observation_field(district):
    sim = _running_sim(district, 40)
    plain = ObservationBuilder(sim)
    with_gains = ObservationBuilder(sim, move_gains=True)
    assert [f.name for f in with_gains.layout] == [f.name for f in plain.layout] + ["move_gains"]
    assert with_gains.size == plain.size + 8
    obs = with_gains.observe()
    np.testing.assert_array_equal(obs[..., : plain.size], plain.observe())
    np.testing.assert_array_equal(obs[..., plain.size :], MoveGains(sim)())


def test_response_gains_of_chosen_units_are_those_of_all_units(district):
    sim = _running_sim(district, 60)
    gains = MoveGains(sim)
    chosen = np.random.default_rng(3).random(sim.unit_cell.shape) < 0.4
    some = gains.response(units=chosen)
    np.testing.assert_array_equal(some[chosen], gains.response()[chosen])
    assert (some[~chosen] == 0.0).all() and (some[chosen] != 0.0).any()


def test_gains_read_through_the_rewards_forecast_are_those_of_their_own(district):
    """An environment's observations share its reward's forecast (and its kept nearest
    units): the gains stay bit for bit those of a forecast of their own, step after step,
    and after the state is changed in place."""
    sim = _running_sim(district, 0)
    reward = ShapedReward(sim, credit="difference_all")
    own_reward = ShapedReward(sim, credit="difference_all")
    shared = MoveGains(sim, reward.forecast)
    rng = np.random.default_rng(2)
    for _ in range(60):
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
        np.testing.assert_array_equal(reward(), own_reward())
        np.testing.assert_array_equal(shared(), MoveGains(sim)())
    idle = np.flatnonzero(sim.unit_status[0] == IDLE)[0]
    sim.unit_cell[0, idle] = (sim.unit_cell[0, idle] + 1) % district.n_cells
    np.testing.assert_array_equal(reward(), own_reward())
    np.testing.assert_array_equal(shared(), MoveGains(sim)())
