"""Beat-plan files: loading, the policy that follows one, round-trips and one-line errors."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from patrolmarl.agents.beat_plan import BeatPlanPolicy, load_beat_plan
from patrolmarl.agents.policy import Policy
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.sim_view import SimView
from patrolmarl.envs.status import FIRST_ACCEPT, IDLE, MOVING
from patrolmarl.errors import PatrolMarlError

BLOCKS = [[0, 12], [12, 24]]
# 16 square beats of 3x3 cells tiling the 20x20 grid sparsely: centres at rows/cols 2, 7, 12, 17.
CENTRES = [(r, c) for r in (2, 7, 12, 17) for c in (2, 7, 12, 17)]


@functools.cache
def _district() -> District:
    # Hours 10 to 14: the plan's blocks change at noon, half-way through.
    return District.load("gaoxin", episode_minutes=240, start_hour=10)


def _square(centre: tuple[int, int], centre_weight: float) -> list[list[float]]:
    r0, c0 = centre
    cells: list[list[float]] = []
    for r in range(r0 - 1, r0 + 2):
        for c in range(c0 - 1, c0 + 2):
            cells.append([r, c, centre_weight] if (r, c) == centre else [r, c])
    return cells


def _plan_dict(n_units: int = 14, dispatch: str = "nearest") -> dict:
    beats = {
        f"patrol_{n}": [_square(CENTRES[n], 2.0), _square(CENTRES[(n + 5) % 16], 0.5)]
        for n in range(n_units)
    }
    return {
        "format": "patrolmarl.beat_plan/1",
        "district": "gaoxin",
        "dispatch": dispatch,
        "blocks": BLOCKS,
        "beats": beats,
    }


def _write(tmp_path: Path, doc: dict | str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_plan_loads_with_its_weights(tmp_path):
    d = _district()
    plan = load_beat_plan(_write(tmp_path, _plan_dict()), d)
    assert plan.weights.shape == (2, d.n_units, d.n_cells)
    np.testing.assert_array_equal(plan.block_start_hours, [0, 12])
    np.testing.assert_array_equal(plan.block_of_hour(np.array([0, 11, 12, 23])), [0, 0, 1, 1])
    assert plan.dispatch == "nearest"
    for n in range(d.n_units):
        for k, (centre, weight) in enumerate(((CENTRES[n], 2.0), (CENTRES[(n + 5) % 16], 0.5))):
            cells = np.flatnonzero(plan.weights[k, n] > 0)
            assert cells.size == 9
            r, c = centre
            assert plan.weights[k, n, r * d.cols + c] == weight
            assert plan.weights[k, n].sum() == pytest.approx(8 + weight)


def test_block_order_in_the_file_does_not_matter(tmp_path):
    d = _district()
    doc = _plan_dict()
    swapped = dict(doc, blocks=BLOCKS[::-1])
    swapped["beats"] = {name: per[::-1] for name, per in doc["beats"].items()}
    a = load_beat_plan(_write(tmp_path, doc, "a.yaml"), d)
    b = load_beat_plan(_write(tmp_path, swapped, "b.yaml"), d)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.block_start_hours, b.block_start_hours)


@pytest.mark.parametrize("dispatch", ["nearest", "own_beat"])
def test_policy_keeps_patrolling_units_inside_the_blocks_beat(tmp_path, dispatch):
    d = _district()
    plan = load_beat_plan(_write(tmp_path, _plan_dict(dispatch=dispatch)), d)
    policy = BeatPlanPolicy(plan, seed=0, name="squares")
    assert isinstance(policy, Policy)
    assert policy.name == "squares"
    seeds = [[3, 0], [3, 1]]
    sim = BatchedSim(d, batch_size=len(seeds))
    policy.bind(SimView(sim))
    sim.reset(seeds=seeds)
    policy.reset(np.ones(len(seeds), dtype=bool))
    beats = plan.weights > 0  # (K, N, C)
    units = np.arange(d.n_units)[None, :]
    arrived = np.zeros((len(seeds), d.n_units), dtype=bool)
    last_block = np.full(len(seeds), -1)
    inside = np.zeros(d.n_units)
    patrolling = np.zeros(d.n_units)
    reached = np.zeros((2, d.n_units), dtype=bool)
    while not sim.done.any():
        masks = sim.action_masks()
        actions = policy.act(None, masks)
        assert np.take_along_axis(masks, actions[..., None], axis=2).all()
        block = plan.block_of_hour(sim.hour_of_day)
        arrived[block != last_block] = False  # a new block: walk to the new beat first
        last_block = block
        in_beat = beats[block[:, None], units, sim.unit_cell]
        arrived |= in_beat
        reached[block[:, None], units] |= in_beat
        active = arrived & ((sim.unit_status == IDLE) | (sim.unit_status == MOVING))
        active &= actions < FIRST_ACCEPT
        inside += (active & in_beat).sum(axis=0)
        patrolling += active.sum(axis=0)
        sim.step(actions)
    assert reached.all(), "every unit reaches its beat in both blocks"
    occupancy = inside / np.maximum(patrolling, 1)
    assert (patrolling > 60).all()
    # A 3x3 beat is 2 % of the grid; patrolling units stay in it almost always.
    assert occupancy.min() >= 0.8, occupancy
    assert inside.sum() / patrolling.sum() >= 0.95


def test_policy_visits_heavier_cells_more(tmp_path):
    d = _district()
    plan = load_beat_plan(_write(tmp_path, _plan_dict()), d)
    policy = BeatPlanPolicy(plan, seed=1)
    sim = BatchedSim(d, batch_size=4)
    policy.bind(SimView(sim))
    sim.reset(seeds=[[4, i] for i in range(4)])
    policy.reset(np.ones(4, dtype=bool))
    while not sim.done.any():
        sim.step(policy.act(None, sim.action_masks()))
    occupied = sim.occupied_steps.sum(axis=0)
    centre_morning = [r * d.cols + c for r, c in CENTRES[:14]]  # weight 2, first block
    edge_morning = [(r - 1) * d.cols + c - 1 for r, c in CENTRES[:14]]  # weight 1
    # Hours 10-12 of the first block are half the episode: the centres see more unit-steps.
    assert occupied[centre_morning].sum() > occupied[edge_morning].sum()


def test_bind_refuses_another_district_config(tmp_path):
    plan = load_beat_plan(_write(tmp_path, _plan_dict()), _district())
    other = District.load("gaoxin", episode_minutes=120)
    with pytest.raises(PatrolMarlError, match="another district config"):
        BeatPlanPolicy(plan).bind(SimView(BatchedSim(other, batch_size=1)))


def test_to_yaml_round_trips(tmp_path):
    d = _district()
    plan = load_beat_plan(_write(tmp_path, _plan_dict(dispatch="own_beat")), d)
    text = plan.to_yaml()
    again = load_beat_plan(_write(tmp_path, text, "again.yaml"), d)
    np.testing.assert_array_equal(again.weights, plan.weights)
    np.testing.assert_array_equal(again.block_start_hours, plan.block_start_hours)
    assert again.dispatch == "own_beat"
    assert again.to_yaml() == text
    doc = yaml.safe_load(text)
    assert doc["format"] == "patrolmarl.beat_plan/1"
    assert doc["district"] == "gaoxin"
    assert list(doc["beats"]) == [f"patrol_{n}" for n in range(d.n_units)]


def test_to_yaml_round_trips_fractional_weights(tmp_path):
    d = _district()
    doc = _plan_dict()
    doc["beats"]["patrol_0"][0] = [[0, 0, 0.125], [0, 1, 3.5], [1, 0]]
    plan = load_beat_plan(_write(tmp_path, doc), d)
    again = load_beat_plan(_write(tmp_path, plan.to_yaml(), "again.yaml"), d)
    np.testing.assert_array_equal(again.weights, plan.weights)
    assert again.weights[0, 0, [0, 1, d.cols]].tolist() == [0.125, 3.5, 1.0]


def _broken(kind: str) -> dict | str:
    doc = _plan_dict()
    beats = doc["beats"]
    if kind == "cell outside the grid":
        beats["patrol_3"][1].append([20, 4])
    elif kind == "negative column":
        beats["patrol_3"][0][0] = [5, -1]
    elif kind == "unknown unit":
        beats["patrol_99"] = beats["patrol_0"]
    elif kind == "empty beat":
        beats["patrol_2"][1] = []
    elif kind == "missing unit":
        del beats["patrol_13"]
    elif kind == "overlapping blocks":
        doc["blocks"] = [[0, 13], [12, 24]]
    elif kind == "gap in blocks":
        doc["blocks"] = [[0, 11], [12, 24]]
    elif kind == "day not covered":
        doc["blocks"] = [[0, 12], [12, 20]]
    elif kind == "wrong number of blocks":
        beats["patrol_4"] = beats["patrol_4"][:1]
    elif kind == "wrong district":
        doc["district"] = "shenzhen_bay"
    elif kind == "unknown field":
        doc["colour"] = "red"
    elif kind == "unknown dispatch":
        doc["dispatch"] = "closest"
    elif kind == "zero weight":
        beats["patrol_1"][0][0] = [1, 1, 0]
    elif kind == "fractional cell":
        beats["patrol_1"][0][0] = [1.5, 1]
    elif kind == "boolean weight":
        beats["patrol_1"][0][0] = [1, 1, True]
    elif kind == "infinite weight":
        beats["patrol_1"][0][0] = [1, 1, float("inf")]
    elif kind == "huge weight":
        beats["patrol_1"][0][0] = [1, 1, 1e300]
    elif kind == "string hour":
        doc["blocks"] = [[0, "13"], *BLOCKS[1:]]
    elif kind == "too many blocks":
        doc["blocks"] = [[h / 4, (h + 1) / 4] for h in range(97)]
    elif kind == "duplicate key":
        return "dispatch: nearest\ndistrict: gaoxin\ndispatch: own_beat\n"
    elif kind == "malformed YAML":
        return "format: patrolmarl.beat_plan/1\nbeats: [unclosed\n  - x: {\n"
    elif kind == "not a mapping":
        return "- just\n- a list\n"
    else:
        raise AssertionError(kind)
    return doc


# kind -> pieces the one-line message must contain
BROKEN = {
    "cell outside the grid": ["beats.patrol_3.1.9", "[20, 4]", "outside", "20x20"],
    "negative column": ["beats.patrol_3.0.0", "[5, -1]", "outside"],
    "unknown unit": ["beats.patrol_99", "no such unit", "patrol_13"],
    "empty beat": ["beats.patrol_2", "empty beat", "[12"],
    "missing unit": ["beats.patrol_13", "missing"],
    "overlapping blocks": ["blocks", "overlap"],
    "gap in blocks": ["blocks", "11", "12", "no block"],
    "day not covered": ["blocks", "24"],
    "wrong number of blocks": ["beats.patrol_4", "1 blocks", "2"],
    "wrong district": ["district", "shenzhen_bay", "gaoxin"],
    "unknown field": ["colour", "unknown field"],
    "unknown dispatch": ["dispatch"],
    "zero weight": ["beats.patrol_1.0.0", "weight", "positive"],
    "fractional cell": ["beats.patrol_1.0.0", "whole numbers"],
    "malformed YAML": ["malformed YAML"],
    "duplicate key": ["malformed YAML", "'dispatch' given twice", "first at line"],
    "boolean weight": ["beats.patrol_1.0.0.2", "valid number", "True"],
    "infinite weight": ["beats.patrol_1.0.0.2", "finite"],
    "huge weight": ["beats.patrol_1.0.0.2", "less than or equal"],
    "string hour": ["blocks.0.1", "valid number", "'13'"],
    "too many blocks": ["blocks", "at most 96"],
    "not a mapping": ["mapping"],
}


# Where the line points: YAML syntax errors and values found in the file.
POSITIONS = {"malformed YAML": ":3:6", "duplicate key": ":3:1", "unknown dispatch": ":3:1"}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_invalid_plans_give_one_line_errors(tmp_path, kind):
    path = _write(tmp_path, _broken(kind))
    with pytest.raises(PatrolMarlError) as info:
        load_beat_plan(path, _district())
    message = str(info.value)
    assert "\n" not in message
    # The line names the position of the mistake as file:line:column.
    where = re.match(re.escape(str(path)) + r"(:\d+:\d+)?: ", message)
    assert where, message
    if kind in POSITIONS:
        assert where.group(1) == POSITIONS[kind], message
    message = message[where.end() :]  # the tmp path may contain any word
    for piece in BROKEN[kind]:
        assert piece in message, f"{piece!r} not in {message!r}"


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(PatrolMarlError, match="file not found"):
        load_beat_plan(tmp_path / "nope.yaml", _district())
