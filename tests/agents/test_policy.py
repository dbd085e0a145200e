"""The Policy protocol, the read-only SimView and the SB3-style predict adapter."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from patrolmarl.agents.baselines import BASELINES, NearestPolicy, RandomPolicy
from patrolmarl.agents.policy import Policy, SB3PredictAdapter, policy_dispatch
from patrolmarl.envs.config import validate_district_dict
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import FIRST_ACCEPT
from tests.helpers import short_busy_gaoxin

SEEDS = [[7, 0], [7, 1], [7, 2]]


def _mini_district() -> District:
    """A small two-precinct district with a station and two vehicle types (fast to plan)."""
    raw = {
        "name": "mini",
        "cell_size_m": 400,
        "land_use_map": ["SSSASSSS", "SRRASSRS", "SRRASSSS", "AAAAAAAA"]
        + ["SSSASSSS", "SSSASRRS", "SRSASRRS", "SSSASSSS"],
        "precinct_map": ["11112222"] * 4 + ["11122222"] * 4,
        "land_uses": {
            "S": {"name": "street", "road_speed_kmh": 25},
            "A": {"name": "arterial", "road_speed_kmh": 40, "street_traffic": 3},
            "R": {"name": "compound", "road_speed_kmh": 15, "street_traffic": 0.5},
        },
        "precincts": {"1": {"name": "west"}, "2": {"name": "east", "responders": 1}},
        "stations": [{"name": "centre", "cell": [3, 3], "precincts": ["1", "2"]}],
        "vehicles": {"car": {"max_speed_kmh": 30}, "bike": {"max_speed_kmh": 18}},
        "units": [
            {"count": 2, "vehicle": "car", "precinct": "1"},
            {"count": 1, "vehicle": "car", "precinct": "2"},
            {"count": 2, "vehicle": "bike", "station": "centre"},
        ],
        "call_types": {
            "street": {
                "daily_rate": 250,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"S": 1, "A": 2},
                "service": {"dist": "exponential", "mean": 20},
                "closure_prob": 0.9,
            },
            "theft": {
                "daily_rate": 60,
                "hourly_profile": [2] * 12 + [1] * 12,
                "land_use_weights": {"S": 1, "R": 1},
                "service": {"dist": "fixed", "mean": 15},
                "deterrable": True,
            },
            "compound": {
                "daily_rate": 30,
                "hourly_profile": [1] * 24,
                "land_use_weights": {"R": 1},
                "service": {"dist": "exponential", "mean": 30},
                "handler": "precinct",
            },
        },
        "simulation": {"episode_minutes": 240},
    }
    return District.from_config(validate_district_dict(raw, "<mini>"))


@functools.cache
def _district(name: str) -> District:
    if name == "mini":
        return _mini_district()
    return short_busy_gaoxin()


@pytest.fixture
def district() -> District:
    return _district("gaoxin")


# pmedian on gaoxin is left to test_baselines.py: solving its 24 hourly p-medians is slow.
CASES = [
    (d, p) for d in ("mini", "gaoxin") for p in sorted(BASELINES) if (d, p) != ("gaoxin", "pmedian")
]


def _allowed(masks: np.ndarray, actions: np.ndarray) -> np.ndarray:
    return np.take_along_axis(masks, actions[..., None], axis=2)[..., 0]


@pytest.mark.parametrize(("district_name", "name"), CASES)
def test_baseline_is_a_policy_and_takes_only_allowed_actions(district_name, name):
    district = _district(district_name)
    policy = BASELINES[name](seed=3)
    assert isinstance(policy, Policy)
    assert policy.name == name
    sim = BatchedSim(district, batch_size=len(SEEDS))
    policy.bind(SimView(sim))
    sim.set_dispatch(policy_dispatch(policy))
    sim.reset(seeds=SEEDS)
    policy.reset(np.ones(len(SEEDS), dtype=bool))
    moves = 0
    while not sim.done.any():
        masks = sim.action_masks()
        actions = policy.act(None, masks)
        assert isinstance(actions, np.ndarray)
        assert actions.shape == (sim.batch_size, sim.n_units)
        assert np.issubdtype(actions.dtype, np.integer)
        assert ((actions >= 0) & (actions < sim.n_actions)).all()
        assert _allowed(masks, actions).all(), f"{name} took a masked action"
        moves += int(((actions >= 1) & (actions < FIRST_ACCEPT)).sum())
        sim.step(actions)
    # The episode is busy enough that every baseline both moves and takes calls
    # (by its accepts, or by the command centre under its dispatch rule).
    assert moves > 0
    assert (~np.isnan(sim.calls.dispatch_time)).sum() > 0


def test_non_policies_fail_the_runtime_check():
    class NoAct:
        name = "x"

        def bind(self, view): ...

        def reset(self, mask): ...

    assert not isinstance(NoAct(), Policy)
    assert not isinstance(object(), Policy)


VIEW_ARRAYS = (
    "now",
    "hour_of_day",
    "unit_cell",
    "unit_status",
    "pending_calls",
    "call_cell",
    "call_time",
    "nearest_call",
    "nearest_travel",
)


def _sim_value(sim: BatchedSim, name: str) -> np.ndarray:
    sources = {
        "pending_calls": lambda: sim.pending,
        "call_cell": lambda: sim.calls.cell,
        "call_time": lambda: sim.calls.time,
    }
    return sources[name]() if name in sources else getattr(sim, name)


@pytest.mark.parametrize("name", VIEW_ARRAYS)
def test_simview_arrays_are_read_only(district, name):
    sim = BatchedSim(district, batch_size=2)
    view = SimView(sim)
    sim.reset(seeds=[[1, 0], [1, 1]])
    array = getattr(view, name)
    assert isinstance(array, np.ndarray)
    assert not array.flags.writeable
    with pytest.raises(ValueError):
        array[...] = 0
    with pytest.raises(ValueError):
        array.flat[0] = 1
    # The simulator's own state is untouched and still writeable.
    assert _sim_value(sim, name).flags.writeable or name in ("now", "hour_of_day")


def test_simview_reflects_the_live_simulator(district):
    sim = BatchedSim(district, batch_size=2)
    view = SimView(sim)
    assert view.district is district
    assert view.batch_size == 2
    assert view.step_minutes == sim.step_minutes
    assert view.incidents is sim.incidents
    sim.reset(seeds=[[2, 0], [2, 1]])
    held = view.unit_cell  # a view taken now must follow later steps
    start = held.copy()
    policy = RandomPolicy(seed=0)
    saw_pending = False
    for _ in range(90):
        sim.step(policy.act(None, sim.action_masks()))
        for name in VIEW_ARRAYS:
            np.testing.assert_array_equal(getattr(view, name), _sim_value(sim, name), err_msg=name)
        saw_pending |= bool((view.pending_calls >= 0).any())
        np.testing.assert_array_equal(held, sim.unit_cell)
    assert np.shares_memory(held, sim.unit_cell)
    assert not np.array_equal(held, start), "random moves should have changed unit cells"
    assert saw_pending
    assert (view.now == 90 * sim.step_minutes).all()


class _Spy:
    """A Policy wrapper recording reset masks."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.resets: list[np.ndarray] = []

    def bind(self, view):
        self.inner.bind(view)

    def reset(self, mask):
        self.resets.append(np.array(mask))
        self.inner.reset(mask)

    def act(self, observations, action_masks):
        return self.inner.act(observations, action_masks)


def test_sb3_adapter_matches_the_wrapped_policy_and_passes_state(district):
    b = 2
    sim = BatchedSim(district, batch_size=b)
    view = SimView(sim)
    ours, reference = _Spy(NearestPolicy(seed=5)), NearestPolicy(seed=5)
    assert isinstance(ours, Policy)
    ours.bind(view)
    reference.bind(view)
    sim.reset(seeds=[[3, 0], [3, 1]])
    ours.reset(np.ones(b, dtype=bool))
    reference.reset(np.ones(b, dtype=bool))
    ours.resets.clear()
    builder = ObservationBuilder(sim)
    n = sim.n_units
    adapter = SB3PredictAdapter(ours, n_agents=n, action_masks=sim.action_masks)
    state = (np.arange(3),)
    moved = 0
    for _ in range(120):
        obs = builder.observe()
        masks = sim.action_masks()
        expected = reference.act(obs, masks)
        actions, out_state = adapter.predict(obs.reshape(b * n, -1), state=state)
        assert out_state is state
        assert actions.shape == (b * n,)
        np.testing.assert_array_equal(actions, expected.reshape(-1))
        moved += int((expected > 0).sum())
        sim.step(actions.reshape(b, n))
    assert moved > 0
    assert ours.resets == []  # no episode_start given: no reset

    # episode_start of district 1's agents resets that district only.
    obs = builder.observe().reshape(b * n, -1)
    start = np.zeros(b * n, dtype=bool)
    start[n:] = True
    actions, out_state = adapter.predict(obs, state=None, episode_start=start)
    assert out_state is None
    assert actions.shape == (b * n,)
    assert len(ours.resets) == 1
    np.testing.assert_array_equal(ours.resets[0], [False, True])
    # All-false episode_start does not reset.
    adapter.predict(obs, episode_start=np.zeros(b * n, dtype=bool))
    assert len(ours.resets) == 1
