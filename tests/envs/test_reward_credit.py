"""The ``difference_all`` credit: each unit's difference reward on the response and theft
forecasts, and the per-unit presence field it reads.

Hand-made situations run on quiet days (no calls, unless a test loads one), so
that one unit's moves change nothing but its own position and presence.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.coverage import CoverageForecast
from patrolmarl.envs.dispatch_rule import NEAREST
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import DayCalls
from patrolmarl.envs.reward import ShapedReward
from patrolmarl.envs.status import EN_ROUTE, FIRST_ACCEPT, IDLE, ON_SCENE, SERVED
from patrolmarl.envs.vec_env import PatrolVecEnv

HOT = 285  # gaoxin's hottest cell for street calls and thefts at night
SOUTH = 2  # move action


@pytest.fixture(scope="module")
def district() -> District:
    return District.load("gaoxin", episode_minutes=240)


def _quiet_sim(district: District, batch: int = 1) -> tuple[BatchedSim, ShapedReward]:
    """A reset simulator with no calls in its days, and its ``difference_all`` reward."""
    sim = BatchedSim(district, batch_size=batch, seed=0)
    reward = ShapedReward(sim, credit="difference_all")
    sim.reset(seeds=list(range(batch)))
    sim.calls.n_calls[:] = 0
    return sim, reward


def _branch(sim: BatchedSim) -> tuple[BatchedSim, ShapedReward]:
    """An independent copy of ``sim`` (per-unit presence included) and its reward."""
    twin = copy.deepcopy(sim)
    return twin, ShapedReward(twin, credit="difference_all")


def _place(sim: BatchedSim, unit: int, cell: int) -> None:
    sim.unit_cell[0, unit] = sim.unit_target[0, unit] = cell


def _stay(sim: BatchedSim) -> np.ndarray:
    return np.zeros((sim.batch_size, sim.n_units), dtype=np.int64)


def _step(sim: BatchedSim, actions: np.ndarray, own: np.ndarray | None = None) -> None:
    """``sim.step(actions)``; ``own`` (``(N, C)``) follows each unit's presence in district 0
    by hand: decayed, plus the step's minutes at its cell while visible."""
    sim.step(actions)
    if own is not None:
        own *= 0.5 ** (sim.step_minutes / sim.district.config.deterrence.half_life_minutes)
        visible = np.flatnonzero(sim.unit_status[0] != EN_ROUTE)
        own[visible, sim.unit_cell[0, visible]] += sim.step_minutes


def _walk(
    sim: BatchedSim, unit: int, action: int, steps: int, own: np.ndarray | None = None
) -> None:
    """``steps`` steps in which ``unit`` repeats ``action`` whenever idle; the others stay."""
    for _ in range(steps):
        actions = _stay(sim)
        if sim.unit_status[0, unit] == IDLE:
            actions[0, unit] = action
        _step(sim, actions, own)


def _forecast(reward: ShapedReward) -> float:
    """The team's forecast terms of district 0, with the reward's sign."""
    w = reward.weights
    cost = w["response"] * reward.expected_response() + w["theft"] * reward.expected_thefts()
    return -float(cost[0])


def _forecast_without(sim: BatchedSim, unit: int, presence: np.ndarray) -> float:
    """:func:`_forecast` with ``unit`` out of reach and its ``presence`` out of the field."""
    twin, reward = _branch(sim)
    twin.unit_status[0, unit] = ON_SCENE
    twin.unit_free_at[0, unit] = 1e9
    twin.presence[0] -= presence
    return _forecast(reward)


def test_a_units_reward_moves_with_its_actions_exactly_as_the_team_forecast(district):
    sim, reward = _quiet_sim(district)
    own = np.zeros((sim.n_units, district.n_cells))
    rng = np.random.default_rng(4)
    for _ in range(20):  # spread the units and build up presence
        masks = sim.action_masks()
        _step(sim, np.argmax(rng.random(masks.shape) * masks, axis=2), own)
    # The simulator's parts are the units' own presence, as nearby presence.
    nearby_own = reward.forecast.nearby_presence(own)
    np.testing.assert_allclose(sim.unit_nearby_presence[0], nearby_own, rtol=1e-12)
    unit = 3
    rewards, forecasts, counterfactuals = [], [], []
    for action in range(5):  # stay, or walk one way for a while
        twin, reward = _branch(sim)
        twin_own = own.copy()
        _walk(twin, unit, action, 6, twin_own)
        rewards.append(reward()[0, unit])
        forecasts.append(_forecast(reward))
        counterfactuals.append(_forecast_without(twin, unit, twin_own[unit]))
    rewards, forecasts = np.array(rewards), np.array(forecasts)
    assert np.ptp(forecasts) > 1e-3  # the actions matter to the team
    # D_u(a) - D_u(a') == G(a) - G(a'): what is left is the team without the unit ...
    np.testing.assert_allclose(rewards - forecasts, rewards[0] - forecasts[0], atol=1e-9)
    # ... which the unit's own actions do not move.
    np.testing.assert_allclose(counterfactuals, counterfactuals[0], rtol=1e-9)
    np.testing.assert_allclose(rewards, forecasts - np.array(counterfactuals), atol=1e-9)


def test_a_unit_that_cedes_its_cells_to_its_neighbours_is_not_paid_for_them(district):
    sim, _ = _quiet_sim(district)
    a, b = 1, 0
    _place(sim, b, HOT)
    _place(sim, a, HOT + 1)  # A is B's eastern neighbour, units 4 and 5 are south of B
    for _ in range(30):
        sim.step(_stay(sim))
    stays, stay_reward = _branch(sim)
    walks, walk_reward = _branch(sim)
    _walk(stays, a, 0, 12)
    _walk(walks, a, SOUTH, 12)  # A leaves the hot spot to the others
    assert walks.unit_cell[0, a] != HOT + 1
    team_change = _forecast(walk_reward) - _forecast(stay_reward)
    assert team_change < 0.0  # the team is worse off
    credit_change = walk_reward()[0, a] - stay_reward()[0, a]
    assert credit_change == pytest.approx(team_change, rel=1e-6)
    # Local credit pays A for handing its busy cells over; difference_all does not.
    local_change = (
        ShapedReward(walks, credit="local")()[0, a] - ShapedReward(stays, credit="local")()[0, a]
    )
    assert local_change > 0.0
    # A's credit for the cells its neighbours took over is zero: without A they cost no more.
    _, owner_before = stay_reward._eta_and_owner()
    _, owner_after = walk_reward._eta_and_owner()
    ceded = (owner_before[0] == a) & (owner_after[0] != a)
    assert ceded.any()
    eta = walk_reward.eta()[0]
    walks.unit_status[0, a] = ON_SCENE
    walks.unit_free_at[0, a] = 1e9
    np.testing.assert_array_equal(walk_reward.eta()[0][ceded], eta[ceded])


def test_theft_credit_is_zero_without_presence_and_larger_on_a_hot_spot(district):
    sim, reward = _quiet_sim(district)
    np.testing.assert_array_equal(reward.marginal_thefts(), 0.0)  # fresh: nobody patrolled yet
    theft_rate = sim.incidents.rate_per_minute[:, sim.incidents.deterrable].sum(axis=1)
    hour = int(sim.hour_of_day[0])
    cold = int(np.argmin(theft_rate[hour]))
    hot, cool, away = 0, 1, 2
    _place(sim, hot, HOT)
    _place(sim, cool, cold)
    sim.unit_status[0, away] = EN_ROUTE  # on its way since the reset: never visible
    sim.unit_free_at[0, away] = 1e9
    for _ in range(30):
        sim.step(_stay(sim))
    assert int(sim.hour_of_day[0]) == hour
    credit = reward.marginal_thefts()[0]
    assert credit[away] == 0.0
    assert credit[hot] > credit[cool] >= 0.0
    assert credit[hot] > 0.0
    # The reward pays the weighted credit: the theft weight scales it alone.
    doubled = ShapedReward(sim, credit="difference_all", theft=2 * reward.weights["theft"])
    np.testing.assert_allclose(
        doubled()[0] - reward()[0], reward.weights["theft"] * credit, rtol=1e-12
    )


def _one_call_day(sim: BatchedSim, cell: int, at: float) -> None:
    """Replace district 0's day by one dispute at ``cell`` at minute ``at``, not closed on scene."""
    one = np.ones(1)
    sim.calls.load_day(
        0,
        DayCalls(
            time=np.array([at]),
            type=np.array([sim.incidents.type_names.index("dispute")]),
            cell=np.array([cell]),
            service=20.0 * one,
            closure_u=one,
            theft_u=one,
        ),
    )


def test_the_nearest_unit_is_paid_more_for_accepting_a_call_than_for_ignoring_it(district):
    sim, _ = _quiet_sim(district)
    _one_call_day(sim, cell=200, at=0.5)
    sim.step(_stay(sim))  # the call is made and waits for a unit
    assert sim.nearest_call[0, :, 0].max() == 0
    unit = int(np.argmin(sim.nearest_travel[0, :, 0]))
    accepts, accept_reward = _branch(sim)
    ignores, ignore_reward = _branch(sim)
    first = _stay(sim)
    first[0, unit] = FIRST_ACCEPT
    accepted = ignored = 0.0
    for step in range(100):
        accepts.step(first if step == 0 else _stay(sim))
        ignores.step(_stay(sim))
        accepted += accept_reward()[0, unit]
        ignored += ignore_reward()[0, unit]
        if ignores.calls.status[0, 0] == SERVED:
            break
    assert ignores.calls.status[0, 0] == SERVED  # the command centre's fallback sent someone
    assert accepts.calls.arrival_time[0, 0] < ignores.calls.arrival_time[0, 0]
    assert accepted > ignored


def _assert_unit_presence_adds_up(sim: BatchedSim, forecast: CoverageForecast) -> None:
    """The units' parts of the nearby presence add up to the nearby presence."""
    np.testing.assert_allclose(
        sim.unit_nearby_presence.sum(axis=1), forecast.nearby_presence(sim.presence), atol=1e-9
    )


def test_unit_presence_adds_up_to_the_presence_across_a_reset(district):
    sim = BatchedSim(district, batch_size=2, seed=0)
    forecast = CoverageForecast(district, sim.incidents)
    assert sim.unit_nearby_presence is None  # off unless asked for
    sim.track_unit_presence()
    sim.reset(seeds=[7, 8])
    rng = np.random.default_rng(5)
    en_route = 0
    while not sim.done[1]:
        masks = sim.action_masks()
        sim.step(np.argmax(rng.random(masks.shape) * masks, axis=2))
        _assert_unit_presence_adds_up(sim, forecast)
        en_route += int((sim.unit_status == EN_ROUTE).sum())
        if sim.step_count[1] == 100:
            kept = sim.unit_nearby_presence[1].copy()
            sim.reset(seeds=[9], mask=np.array([True, False]))
            np.testing.assert_array_equal(sim.unit_nearby_presence[0], 0.0)
            np.testing.assert_array_equal(sim.unit_nearby_presence[1], kept)
            assert kept.any(axis=1).sum() > 1  # several units left presence
    assert en_route > 0  # invisible units were left out of both fields


def test_unit_presence_must_be_tracked_from_the_start(district):
    sim = BatchedSim(district, batch_size=1, seed=0)
    sim.reset(seeds=[0])
    with pytest.raises(RuntimeError, match="track_unit_presence"):
        ShapedReward(sim, credit="difference").marginal_thefts()
    sim.step(_stay(sim))
    with pytest.raises(RuntimeError, match="reset"):
        ShapedReward(sim, credit="difference_all")
    sim.reset(seeds=[0])
    reward = ShapedReward(sim, credit="difference_all")
    sim.step(_stay(sim))
    _assert_unit_presence_adds_up(sim, reward.forecast)


def test_the_vec_env_runs_difference_all_credit_across_day_ends():
    day = District.load("gaoxin", episode_minutes=20)
    env = PatrolVecEnv(
        day, n_districts=2, seed=0, reward_weights={"credit": "difference_all"}, dispatch=NEAREST
    )
    env.reset()
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(50):
        masks = env.action_masks()
        _, rewards, dones, _ = env.step(np.argmax(rng.random(masks.shape) * masks, axis=1))
        assert rewards.shape == (env.num_envs,)
        assert np.isfinite(rewards).all()
        _assert_unit_presence_adds_up(env.sim, env.reward_fn.forecast)
        ends += int(dones.any())
    assert ends == 2
